// Shows a message's text as text: line breaks kept, web links made clickable.
//
// Nothing in a message is ever read as HTML (React escapes it), so a visitor's
// "<script>" is shown, never run. Only http(s) links become links, and they
// open in a new tab without giving that tab a handle on this page.

const LINK = /\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|https?:\/\/[^\s<>"]+/g;
const TRAILING_PUNCTUATION = /[.,;:!?)\]'"”’]+$/;

function linked(line, lineIndex) {
  const pieces = [];
  let last = 0;
  for (const match of line.matchAll(LINK)) {
    let [whole, label, markdownUrl] = match;
    let url = markdownUrl;
    if (!url) {
      const trailing = (whole.match(TRAILING_PUNCTUATION) || [''])[0];
      url = whole.slice(0, whole.length - trailing.length);
      whole = url;
      label = url;
    }
    pieces.push(line.slice(last, match.index));
    pieces.push(
      <a key={`${lineIndex}-${match.index}`} href={url} target="_blank" rel="noopener noreferrer">
        {label}
        <span className="pc-sr-only"> (opens in a new tab)</span>
      </a>,
    );
    last = match.index + whole.length;
  }
  pieces.push(line.slice(last));
  return pieces;
}

/** The text of one message, with links and line breaks. */
export function MessageText({ text }) {
  const lines = String(text || '').split('\n');
  return (
    <span className="pc-text" dir="auto">
      {lines.map((line, index) => (
        <span key={index}>
          {index > 0 && <br />}
          {linked(line, index)}
        </span>
      ))}
    </span>
  );
}
