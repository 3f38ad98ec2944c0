// The chat bubble and its panel: chatscope's components on the assistant's socket.
import { useCallback, useEffect, useRef, useState } from 'react';
import {
  ChatContainer,
  ConversationHeader,
  MainContainer,
  Message,
  MessageList,
  TypingIndicator,
} from '@chatscope/chat-ui-kit-react';

import { openConnection } from './connection.js';
import { ConversationMenu } from './ConversationMenu.jsx';
import { forgetConversation, loadConversation, saveConversation } from './conversationStore.js';
import { MessageText } from './messageText.jsx';

// The assistant sends a turn as several messages in quick succession and says
// nothing when it is done, so the typing indicator stays a moment after each one.
const TYPING_LINGER_MS = 900;
const TYPING_GIVE_UP_MS = 30000;
const MAX_MESSAGE_CHARACTERS = 5000;

let nextId = 0;
const newId = () => `${Date.now().toString(36)}-${(nextId += 1)}`;

/**
 * What is left to show once the assistant has deleted the conversation: only its
 * replies since the visitor's last message (the confirmation of the deletion).
 */
export function afterDeletion(messages) {
  let lastVisitor = -1;
  messages.forEach((message, index) => {
    if (message.from === 'visitor') lastVisitor = index;
  });
  return messages.slice(lastVisitor + 1);
}

/** Turns a Rasa `bot_uttered` event into the widget's message shape. */
export function assistantMessage(event) {
  const options = (event && (event.quick_replies || event.buttons)) || [];
  const image = event && event.attachment && event.attachment.type === 'image' && event.attachment.payload;
  return {
    id: newId(),
    from: 'assistant',
    text: typeof (event && event.text) === 'string' ? event.text : '',
    buttons: options
      .filter((option) => option && option.title)
      .map((option) => ({ title: String(option.title), payload: String(option.payload || option.title) })),
    image: image && (image.src || image.url) ? String(image.src || image.url) : null,
  };
}

function SuggestedReplies({ buttons, onChoose }) {
  return (
    <div className="pc-replies" role="group" aria-label="Suggested replies">
      {buttons.map((button) => (
        <button key={`${button.title}-${button.payload}`} type="button" className="pc-reply" onClick={() => onChoose(button)}>
          {button.title}
        </button>
      ))}
    </div>
  );
}

function ChatMessage({ message, showButtons, onChoose }) {
  const fromVisitor = message.from === 'visitor';
  return (
    <Message
      model={{ direction: fromVisitor ? 'outgoing' : 'incoming', position: 'single', type: 'custom' }}
      className={fromVisitor ? 'pc-message pc-message--visitor' : 'pc-message pc-message--assistant'}
    >
      <Message.CustomContent>
        <span className="pc-sr-only">{fromVisitor ? 'You said: ' : 'Assistant: '}</span>
        {message.text && <MessageText text={message.text} />}
        {message.image && <img className="pc-image" src={message.image} alt="Image from the assistant" />}
        {showButtons && message.buttons.length > 0 && <SuggestedReplies buttons={message.buttons} onChoose={onChoose} />}
      </Message.CustomContent>
    </Message>
  );
}

const STATUS_TEXT = {
  connecting: 'Connecting…',
  reconnecting: 'Connection lost. Reconnecting…',
  unavailable: "The chat can't reach the assistant right now. Please try again later.",
};

/** The whole widget: launcher button, chat panel, conversation kept in `storage`. */
export function ChatWidget({ settings, storage }) {
  const [saved] = useState(() => loadConversation(storage, settings.storageKey, settings.sessionMinutes));
  const [open, setOpen] = useState(saved.open);
  const [messages, setMessages] = useState(saved.messages);
  const [sessionId, setSessionId] = useState(saved.sessionId);
  const [sessionToken, setSessionToken] = useState(saved.sessionToken);
  const [status, setStatus] = useState('connecting');
  const [typing, setTyping] = useState(false);
  const [draft, setDraft] = useState('');
  const [generation, setGeneration] = useState(0);
  const connection = useRef(null);
  const typingTimer = useRef(null);
  const launcher = useRef(null);
  const input = useRef(null);
  const panel = useRef(null);
  const greeted = useRef(saved.messages.length > 0);
  const knownSession = useRef(saved.sessionId);

  const showTyping = useCallback((milliseconds) => {
    setTyping(true);
    clearTimeout(typingTimer.current);
    typingTimer.current = setTimeout(() => setTyping(false), milliseconds);
  }, []);

  // Connect once the panel has been opened; reconnect with a new session after "Start over".
  useEffect(() => {
    if (!open || connection.current) return undefined;
    connection.current = openConnection({
      server: settings.server,
      socketPath: settings.socketPath,
      sessionToken,
      onStatus: setStatus,
      onSession: ({ sessionId: id, sessionToken: token }) => {
        if (knownSession.current && knownSession.current !== id) {
          // The server did not accept the kept token (a new signing key, say): the
          // conversation shown is no longer the one the assistant has, so begin anew.
          setMessages([]);
          greeted.current = false;
        }
        knownSession.current = id;
        setSessionId(id);
        setSessionToken(token);
        if (!greeted.current) {
          greeted.current = true;
          connection.current.send(settings.initPayload);
          showTyping(TYPING_GIVE_UP_MS);
        }
      },
      onBotMessage: (event) => {
        if (event && event.conversation_deleted) {
          // The assistant deleted the conversation: the browser forgets it too.
          setMessages(afterDeletion);
          return;
        }
        setMessages((previous) => [...previous, assistantMessage(event)]);
        showTyping(TYPING_LINGER_MS);
      },
    });
    return undefined;
  }, [open, generation]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => () => connection.current && connection.current.close(), []);

  useEffect(() => {
    if (sessionId && sessionToken) {
      saveConversation(storage, settings.storageKey, { sessionId, sessionToken, messages, open });
    }
  }, [sessionId, sessionToken, messages, open, storage, settings.storageKey]);

  useEffect(() => {
    if (open && input.current) input.current.focus();
  }, [open]);

  // chatscope's scrollbar puts its two thumbs in the tab order, unlabelled; the
  // conversation itself is focusable and scrolls with the arrow keys instead.
  useEffect(() => {
    if (!panel.current) return;
    panel.current.querySelectorAll('.ps__thumb-x, .ps__thumb-y').forEach((thumb) => thumb.setAttribute('tabindex', '-1'));
  });

  const send = (text, shown = text) => {
    if (!connection.current) return;
    setMessages((previous) => [...previous, { id: newId(), from: 'visitor', text: shown, buttons: [] }]);
    connection.current.send(text);
    showTyping(TYPING_GIVE_UP_MS);
  };

  const submit = (event) => {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    send(text);
    setDraft('');
    input.current.focus();
  };

  const close = () => {
    setOpen(false);
    if (launcher.current) launcher.current.focus();
  };

  const startOver = () => {
    if (connection.current) connection.current.close();
    connection.current = null;
    forgetConversation(storage, settings.storageKey);
    greeted.current = false;
    setMessages([]);
    setSessionId(null);
    setSessionToken(null);
    knownSession.current = null;
    setTyping(false);
    setStatus('connecting');
    setGeneration((value) => value + 1);
    input.current.focus();
  };

  const lastMessage = messages[messages.length - 1];
  const statusText = STATUS_TEXT[status];

  return (
    <div
      className={open ? 'pc-root pc-root--open' : 'pc-root'}
      style={{ '--pc-primary': settings.primaryColor, '--pc-on-primary': settings.primaryTextColor }}
    >
      {open && (
        <div
          id="pc-panel"
          ref={panel}
          className="pc-panel"
          role="dialog"
          aria-modal="false"
          aria-labelledby="pc-title"
          onKeyDown={(event) => event.key === 'Escape' && close()}
        >
          <MainContainer className="pc-main">
            <ChatContainer>
              <ConversationHeader className="pc-header">
                <ConversationHeader.Content>
                  <h2 id="pc-title" className="pc-title">{settings.practiceName}</h2>
                  <p className="pc-subtitle">Automated assistant</p>
                </ConversationHeader.Content>
                <ConversationHeader.Actions>
                  <ConversationMenu
                    disabled={status !== 'connected'}
                    onChoose={(item) => {
                      send(item.payload, item.label);
                      input.current.focus();
                    }}
                  />
                  <button type="button" className="pc-header-button" onClick={startOver}>
                    Start over
                  </button>
                  <button type="button" className="pc-header-button pc-close" aria-label="Close chat" onClick={close}>
                    <span aria-hidden="true">×</span>
                  </button>
                </ConversationHeader.Actions>
              </ConversationHeader>
              <MessageList
                className="pc-messages"
                role="log"
                aria-live="polite"
                aria-label="Conversation"
                tabIndex={0}
                typingIndicator={
                  typing ? <TypingIndicator className="pc-typing" content="The assistant is typing" role="status" /> : undefined
                }
              >
                {messages.map((message) => (
                  <ChatMessage
                    key={message.id}
                    message={message}
                    showButtons={message === lastMessage && message.from === 'assistant'}
                    onChoose={(button) => {
                      send(button.payload, button.title);
                      input.current.focus();
                    }}
                  />
                ))}
              </MessageList>
            </ChatContainer>
          </MainContainer>
          {statusText && status !== 'connected' && (
            <p className="pc-status" role="status">
              {statusText}
            </p>
          )}
          <form className="pc-composer" onSubmit={submit}>
            <label htmlFor="pc-input" className="pc-sr-only">
              Your message
            </label>
            <textarea
              id="pc-input"
              ref={input}
              className="pc-input"
              rows={1}
              dir="auto"
              maxLength={MAX_MESSAGE_CHARACTERS}
              placeholder="Type your question…"
              value={draft}
              onChange={(event) => setDraft(event.target.value)}
              onKeyDown={(event) => {
                if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) submit(event);
              }}
            />
            <button type="submit" className="pc-send" disabled={!draft.trim()}>
              Send
            </button>
          </form>
        </div>
      )}
      <button
        ref={launcher}
        type="button"
        className="pc-launcher"
        aria-label={open ? 'Close chat' : `Chat with ${settings.practiceName}`}
        aria-expanded={open}
        aria-controls="pc-panel"
        onClick={() => (open ? close() : setOpen(true))}
      >
        <svg aria-hidden="true" viewBox="0 0 24 24" width="28" height="28" focusable="false">
          {open ? (
            <path fill="currentColor" d="M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z" />
          ) : (
            <path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z" />
          )}
        </svg>
      </button>
    </div>
  );
}
