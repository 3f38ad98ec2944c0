// The header's menu of what a visitor may do with their own conversation.
//
// Each item sends the assistant an intent as a button would, so the assistant
// handles it exactly as if it were typed: deleting asks for confirmation first,
// a copy goes only to the email given when booking (actions/visitor_rights.py).
import { useEffect, useRef, useState } from 'react';

export const MENU_ITEMS = [
  { label: 'Email me a copy', payload: '/send_transcript' },
  { label: 'Delete this conversation', payload: '/delete_conversation' },
];

/** A "More options" button and its menu; `onChoose(item)` gets the chosen item. */
export function ConversationMenu({ onChoose, disabled }) {
  const [open, setOpen] = useState(false);
  const button = useRef(null);
  const menu = useRef(null);

  useEffect(() => {
    if (open && menu.current) {
      const first = menu.current.querySelector('[role="menuitem"]');
      if (first) first.focus();
    }
  }, [open]);

  const close = (returnFocus) => {
    setOpen(false);
    if (returnFocus && button.current) button.current.focus();
  };

  const onMenuKey = (event) => {
    const items = Array.from(menu.current.querySelectorAll('[role="menuitem"]'));
    const index = items.indexOf(event.target);
    if (event.key === 'Escape') {
      // Closes the menu only, not the whole chat.
      event.stopPropagation();
      close(true);
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      items[(index + step + items.length) % items.length].focus();
    } else if (event.key === 'Tab') {
      close(false);
    }
  };

  return (
    <div className="pc-menu-anchor">
      <button
        ref={button}
        type="button"
        className="pc-header-button pc-menu-button"
        aria-label="More options"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls="pc-conversation-menu"
        disabled={disabled}
        onClick={() => setOpen((value) => !value)}
      >
        <span aria-hidden="true">⋮</span>
      </button>
      {open && (
        <ul
          id="pc-conversation-menu"
          ref={menu}
          className="pc-menu"
          role="menu"
          aria-label="Your conversation"
          onKeyDown={onMenuKey}
          onBlur={(event) => {
            if (!menu.current.contains(event.relatedTarget) && event.relatedTarget !== button.current) close(false);
          }}
        >
          {MENU_ITEMS.map((item) => (
            <li key={item.payload} role="none">
              <button
                type="button"
                role="menuitem"
                className="pc-menu-item"
                tabIndex={-1}
                onClick={() => {
                  close(false);
                  onChoose(item);
                }}
              >
                {item.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
