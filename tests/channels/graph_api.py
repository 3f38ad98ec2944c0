"""A local stand-in for Meta's Graph API Send endpoint that records what it receives.

The Facebook channel's real client library posts to it (the Rasa server is pointed
at it with `FACEBOOK_GRAPH_API_URL`), so the tests see exactly what Messenger
would have been sent, without Meta.
"""

import json
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List


@dataclass(frozen=True)
class GraphRequest:
    """One request to the Send API: its path, query parameters and JSON body."""

    path: str
    query: Dict[str, str]
    body: Dict[str, Any]

    @property
    def recipient(self) -> str:
        """The page-scoped id the request is addressed to."""
        return str((self.body.get("recipient") or {}).get("id", ""))

    @property
    def message(self) -> Dict[str, Any] | None:
        """The message sent, or None for a sender action."""
        return self.body.get("message")


class GraphApiStandIn:
    """An HTTP server on loopback that answers like the Send API and keeps every request."""

    def __init__(self) -> None:
        self._requests: List[GraphRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The address to give as `FACEBOOK_GRAPH_API_URL` (with an API version, like Meta's)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v24.0"

    def start(self) -> "GraphApiStandIn":
        """Starts serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "GraphApiStandIn":
        """Serving for the length of a `with` block (a fixture's lifetime)."""
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def requests_to(self, recipient: str) -> List[GraphRequest]:
        """Every request addressed to one visitor, in the order received."""
        with self._lock:
            return [request for request in self._requests if request.recipient == recipient]

    def messages_to(self, recipient: str) -> List[Dict[str, Any]]:
        """The messages (not sender actions) sent to one visitor, in order."""
        return [r.message for r in self.requests_to(recipient) if r.message is not None]

    def _record(self, request: GraphRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler(self) -> type:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                query = dict(urllib.parse.parse_qsl(url.query))
                request = GraphRequest(path=url.path, query=query, body=body)
                stand_in._record(request)
                answer = {"recipient_id": request.recipient}
                if request.message is not None:
                    answer["message_id"] = f"m_{len(stand_in._requests)}"
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return Handler
