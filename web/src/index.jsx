// The embed: `<script src=".../practice-chat.js" data-server="..." defer></script>`.
//
// The widget lives in a shadow root, so that the practice's own stylesheet and
// the widget's cannot change each other.
import { createRoot } from 'react-dom/client';
import chatscopeStyles from '@chatscope/chat-ui-kit-styles/dist/default/styles.min.css';

import { ChatWidget } from './ChatWidget.jsx';
import { readSettings } from './settings.js';
import widgetStyles from './styles.css';

const script = document.currentScript;

function browserStorage() {
  try {
    return window.localStorage;
  } catch (error) {
    // Storage blocked by the browser's privacy settings: keep the conversation in memory.
    const memory = new Map();
    return {
      getItem: (key) => (memory.has(key) ? memory.get(key) : null),
      setItem: (key, value) => memory.set(key, String(value)),
      removeItem: (key) => memory.delete(key),
    };
  }
}

function mount() {
  const settings = readSettings(script);
  const host = document.createElement('div');
  host.id = 'practice-chat';
  document.body.appendChild(host);
  const shadow = host.attachShadow({ mode: 'open' });
  const style = document.createElement('style');
  style.textContent = `${chatscopeStyles}\n${widgetStyles}`;
  shadow.appendChild(style);
  const container = document.createElement('div');
  shadow.appendChild(container);
  createRoot(container).render(<ChatWidget settings={settings} storage={browserStorage()} />);
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', mount);
} else {
  mount();
}
