"""Serves the demo page of the practice, with the chat bubble, on localhost.

`make run` starts it beside the assistant so that the widget can be tried as a
visitor would. The page is `web/demo/index.html` with the assistant's address and
the practice's name filled in; the widget is the bundle `make web` builds in
`web/dist/`. Python's own HTTP server is enough for one page and one script, so
this needs no web framework.
"""

import argparse
import html
import sys
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List

from assistant import settings

WEB_ROOT = Path(__file__).resolve().parent
PAGE_TEMPLATE = WEB_ROOT / "demo" / "index.html"
WIDGET_BUNDLE = WEB_ROOT / "dist" / "practice-chat.js"


def demo_page(template: str, rasa_url: str, practice_name: str) -> str:
    """The demo page with the assistant's address and the practice's name, HTML-escaped."""
    return template.replace("{{rasa_url}}", html.escape(rasa_url)).replace(
        "{{practice_name}}", html.escape(practice_name)
    )


class DemoPageHandler(BaseHTTPRequestHandler):
    """Answers `/` (the page), `/practice-chat.js` (the widget) and `/health`."""

    server_version = "PracticeDemoPage"

    def __init__(self, *args: object, page: str, bundle: Path, **kwargs: object) -> None:
        """Keeps the rendered page and where the widget bundle is."""
        self.page = page
        self.bundle = bundle
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        """Serves the three paths; anything else is 404."""
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", self.page.encode("utf-8"))
        elif path == "/practice-chat.js":
            try:
                self._send(HTTPStatus.OK, "text/javascript; charset=utf-8", self.bundle.read_bytes())
            except OSError:
                message = b"The widget is not built yet: run `make web`."
                self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", message)
        elif path == "/health":
            self._send(HTTPStatus.OK, "text/plain; charset=utf-8", b"ok")
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found")

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        """Stays quiet: `make run` prints the addresses, not every request."""


def create_server(port: int, rasa_url: str, practice_name: str, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The demo page server, bound to loopback; the caller runs and closes it."""
    page = demo_page(PAGE_TEMPLATE.read_text(encoding="utf-8"), rasa_url, practice_name)
    handler = partial(DemoPageHandler, page=page, bundle=WIDGET_BUNDLE)
    return ThreadingHTTPServer((host, port), handler)


def main(argv: List[str] | None = None) -> int:
    """`python -m web.demo_server [--port 8080] [--rasa-url http://localhost:5005]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=settings.web_port())
    parser.add_argument("--rasa-url", default=f"http://localhost:{settings.ports().rasa}")
    args = parser.parse_args(argv)
    server = create_server(args.port, args.rasa_url, settings.practice_profile().practice_name)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
