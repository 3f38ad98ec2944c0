"""Who sent a request and over what: the socket, or the trusted reverse proxy's headers.

Any client can write `X-Forwarded-For` and `X-Forwarded-Proto`, so they are believed
only when `REVIEW_TRUSTED_PROXY_HEADER` names the header the practice's proxy sets.
Even then only the last entry is taken: a proxy appends the address it saw to what
the client sent, so the entries before it are the client's own inventions.
"""

from sanic import Request

FORWARDED_PROTO = "X-Forwarded-Proto"
UNKNOWN_CLIENT = "unknown"


def last_entry(value: str | None) -> str:
    """The right-most entry of a comma-separated header, the one the nearest proxy wrote."""
    return (value or "").rsplit(",", 1)[-1].strip()


def client_address(request: Request, trusted_header: str | None) -> str:
    """The client's address: from the trusted proxy's header when configured and present, else the socket."""
    if trusted_header:
        forwarded = last_entry(request.headers.get(trusted_header))
        if forwarded:
            return forwarded
    return request.ip or UNKNOWN_CLIENT


def served_over_https(request: Request, base_url: str, trusted_header: str | None) -> bool:
    """Whether the therapist reaches the app over HTTPS, so HSTS and Secure cookies apply.

    True when the public address (`REVIEW_BASE_URL`) is https, when the trusted proxy
    says the request came as https, or when the app itself terminates TLS.
    """
    if base_url.startswith("https://") or request.scheme == "https":
        return True
    return bool(trusted_header) and last_entry(request.headers.get(FORWARDED_PROTO)).lower() == "https"
