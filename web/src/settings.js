// The embed snippet's settings, read from the data attributes of its script tag.

const DEFAULTS = {
  practiceName: 'the practice',
  primaryColor: '#1d5c63',
  primaryTextColor: '#ffffff',
  socketPath: '/socket.io/',
  sessionMinutes: 120,
  initPayload: '/greet',
};

/**
 * Reads the widget's settings from `<script src=".../practice-chat.js" data-server="...">`.
 *
 * @param {HTMLScriptElement | null} script the embed script tag
 * @returns {object} server address, names, colours and session length
 */
export function readSettings(script) {
  const data = (script && script.dataset) || {};
  const server = (data.server || window.location.origin).replace(/\/+$/, '');
  const sessionMinutes = Number(data.sessionMinutes);
  return {
    server,
    practiceName: data.practiceName || DEFAULTS.practiceName,
    primaryColor: data.primaryColor || DEFAULTS.primaryColor,
    primaryTextColor: data.primaryTextColor || DEFAULTS.primaryTextColor,
    socketPath: data.socketPath || DEFAULTS.socketPath,
    sessionMinutes: sessionMinutes > 0 ? sessionMinutes : DEFAULTS.sessionMinutes,
    initPayload: data.initPayload || DEFAULTS.initPayload,
    storageKey: `practice-chat:${server}`,
  };
}
