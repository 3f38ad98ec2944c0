// Rasa's socket.io protocol with session persistence, and server-issued sessions.
//
// On every (re)connection the widget asks for its session with `session_request`
// and the session token it has kept (none the first time). The server answers
// `session_confirm` with the conversation's id and its signed token: the same
// ones when the token is valid, a new conversation otherwise. The id alone opens
// nothing; every `user_uttered` carries the token, and replies come back as
// `bot_uttered`.
import { io } from 'socket.io-client';

/**
 * What each message tells the assistant besides its text: the browser's time
 * zone, so that offered call times are shown in the visitor's own time without
 * asking. Nothing else about the browser is sent.
 */
function messageMetadata() {
  try {
    const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return timeZone ? { time_zone: timeZone } : {};
  } catch {
    return {};
  }
}

/**
 * Opens the socket to the assistant.
 *
 * @param {object} options server, socketPath, sessionToken (or null for a new session),
 *   and callbacks onSession({sessionId, sessionToken}), onBotMessage(message), onStatus(status)
 * @returns {{send: function(string): void, close: function(): void}}
 */
export function openConnection({ server, socketPath, sessionToken, onSession, onBotMessage, onStatus }) {
  let currentToken = sessionToken;
  // Messages wait until this connection's session is confirmed: one sent before
  // would reach the server ahead of the socket joining its conversation.
  let confirmed = false;
  const waiting = [];
  const socket = io(server, { path: socketPath, reconnectionDelayMax: 10000 });

  socket.on('connect', () => {
    onStatus('connected');
    confirmed = false;
    socket.emit('session_request', { session_token: currentToken });
  });
  socket.on('session_confirm', (session) => {
    const id = session && session.session_id;
    const token = session && session.session_token;
    if (typeof id !== 'string' || typeof token !== 'string') return;
    currentToken = token;
    confirmed = true;
    onSession({ sessionId: id, sessionToken: token });
    while (waiting.length) socket.emit('user_uttered', { message: waiting.shift(), session_token: token, metadata: messageMetadata() });
  });
  socket.on('bot_uttered', (message) => onBotMessage(message));
  socket.on('connect_error', () => onStatus('unavailable'));
  socket.on('disconnect', () => {
    confirmed = false;
    onStatus('reconnecting');
  });

  return {
    send(text) {
      if (socket.connected && confirmed) {
        socket.emit('user_uttered', { message: text, session_token: currentToken, metadata: messageMetadata() });
      } else {
        waiting.push(text);
      }
    },
    close() {
      socket.disconnect();
    },
  };
}
