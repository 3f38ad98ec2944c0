// Keeps the conversation in the visitor's browser, so that it survives a reload
// and a closed tab reopened within the assistant's session.
//
// localStorage outlives the tab; the saved conversation is dropped after the
// session length of inactivity (the assistant's own session_expiration_time),
// after which the assistant would start a new session anyway.

const EMPTY = { sessionId: null, messages: [], open: false };

/** The saved conversation, or an empty one when none is saved or it has expired. */
export function loadConversation(storage, key, sessionMinutes, now = Date.now()) {
  try {
    const saved = JSON.parse(storage.getItem(key) || 'null');
    const fresh = saved && now - Number(saved.savedAt) < sessionMinutes * 60 * 1000;
    if (fresh && typeof saved.sessionId === 'string' && Array.isArray(saved.messages)) {
      return { sessionId: saved.sessionId, messages: saved.messages, open: Boolean(saved.open) };
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
