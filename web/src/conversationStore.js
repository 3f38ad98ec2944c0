// Keeps the conversation in the visitor's browser, so that it survives a reload
// and a closed tab reopened within the assistant's session.
//
// localStorage outlives the tab; the saved conversation is dropped after the
// session length of inactivity (the assistant's own session_expiration_time),
// after which the assistant would start a new session anyway. It keeps the
// session token the server signed, which alone resumes the conversation (the id
// is kept only to notice when the server starts a new one).

const EMPTY = { sessionId: null, sessionToken: null, messages: [], open: false };

/** The saved conversation, or an empty one when none is saved or it has expired. */
export function loadConversation(storage, key, sessionMinutes, now = Date.now()) {
  try {
    const saved = JSON.parse(storage.getItem(key) || 'null');
    const fresh = saved && now - Number(saved.savedAt) < sessionMinutes * 60 * 1000;
    const complete = saved && typeof saved.sessionId === 'string' && typeof saved.sessionToken === 'string';
    if (fresh && complete && Array.isArray(saved.messages)) {
      return {
        sessionId: saved.sessionId,
        sessionToken: saved.sessionToken,
        messages: saved.messages,
        open: Boolean(saved.open),
      };
    }
  } catch (error) {
    // Storage may be unavailable (privacy settings) or hold something unreadable.
  }
  return { ...EMPTY };
}

/** Saves the conversation with the time, which starts its expiry again. */
export function saveConversation(storage, key, conversation, now = Date.now()) {
  try {
    storage.setItem(key, JSON.stringify({ ...conversation, savedAt: now }));
  } catch (error) {
    // Without storage the conversation still works; it just won't survive a reload.
  }
}

/** Forgets the conversation, for "Start over". */
export function forgetConversation(storage, key) {
  try {
    storage.removeItem(key);
  } catch (error) {
    // Nothing was stored.
  }
}
