// Rasa's socket.io protocol with session persistence.
//
// On every (re)connection the widget asks for its session with `session_request`
// and the id it has kept; Rasa puts the socket in that session's room and answers
// `session_confirm`. Messages go out as `user_uttered` with the session id and
// come back as `bot_uttered`.
import { io } from 'socket.io-client';

/**
 * Opens the socket to the assistant.
 *
 * @param {object} options server, socketPath, sessionId (or null for a new one),
 *   and callbacks onSession(id), onBotMessage(message), onStatus(status)
 * @returns {{send: function(string): void, close: function(): void}}
 */
export function openConnection({ server, socketPath, sessionId, onSession, onBotMessage, onStatus }) {
  let currentSessionId = sessionId;
  const waiting = [];
  const socket = io(server, { path: socketPath, reconnectionDelayMax: 10000 });

  socket.on('connect', () => {
    onStatus('connected');
    socket.emit('session_request', { session_id: currentSessionId });
  });
  socket.on('session_confirm', (confirmed) => {
    const id = typeof confirmed === 'string' ? confirmed : confirmed && confirmed.session_id;
    if (!id) return;
    currentSessionId = id;
    onSession(id);
    while (waiting.length) socket.emit('user_uttered', { message: waiting.shift(), session_id: id });
  });
  socket.on('bot_uttered', (message) => onBotMessage(message));
  socket.on('connect_error', () => onStatus('unavailable'));
  socket.on('disconnect', () => onStatus('reconnecting'));

  return {
    send(text) {
      if (socket.connected && currentSessionId) {
        socket.emit('user_uttered', { message: text, session_id: currentSessionId });
      } else {
        waiting.push(text);
      }
    },
    close() {
      socket.disconnect();
    },
  };
}
