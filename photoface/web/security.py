"""Every request is hostile until shown otherwise: the one layer that decides, before any view runs.

- **Host header**: only ``localhost`` or an IP address, on our port. A web page elsewhere that
  points its own domain name at 127.0.0.1 (DNS rebinding) sends its domain: refused.
- **Token**: a random token in the URL printed at start (as Jupyter does). It is swapped for an
  ``HttpOnly; SameSite=Strict`` cookie and the URL is redirected without it, so it does not stay
  in the address bar or history. No token, no page: 403.
- **CSRF**: every change is a POST with a JSON body and the page's CSRF token in
  ``X-CSRF-Token``; an ``Origin`` that is not ours is refused. A form on another site can send
  neither the header nor a JSON body without the browser asking us first (CORS), and we never
  answer CORS.
- **Headers**: a Content-Security-Policy allowing only our own scripts, styles, images and videos (an
  injected ``<script>`` would not run even if escaping failed), no framing, no referrer, no caching
  of pages.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

CSP = (
    "default-src 'none'; img-src 'self'; media-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SAFE_METHODS = {"GET", "HEAD"}


@dataclass(frozen=True)
class Secrets:
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def cookie(self) -> str:
        return f"photoface-{self.port}"  # cookies ignore ports: two servers must not share one


def host_allowed(host_header: str, port: int) -> bool:
    """``localhost`` or an IP literal, with our port (browsers leave out only port 80)."""
    host, _, given_port = host_header.rpartition(":")
    if not host or host_header.endswith("]"):  # no port given
        host, given_port = host_header, "80"
    if given_port != str(port):
        return False
    host = host.removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware: Host check, token, CSRF and security headers for every HTTP request."""

    def __init__(self, app: ASGIApp, keys: Secrets) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k not in headers]
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            refusal.headers["cache-control"] = "no-store"
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if not host_allowed(headers.get("host", ""), self.keys.port):
            return PlainTextResponse("forbidden: this Host header is not photoface's address", 403)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if "token" in query and hmac.compare_digest(query["token"], self.keys.token):
            return self._login(scope, query)
        cookie = SimpleCookie(headers.get("cookie", "")).get(self.keys.cookie)
        if cookie is None or not hmac.compare_digest(cookie.value, self.keys.token):
            return PlainTextResponse(
                "forbidden: open the link with ?token=... that 'photoface serve' printed in its terminal", 403
            )
        if scope["method"] not in SAFE_METHODS:
            return _csrf_refusal(headers, self.keys.csrf)
        return None

    def _login(self, scope: Scope, query: dict[str, str]) -> Response:
        """The token from the printed URL becomes a cookie; the URL loses it."""
        rest = urlencode({k: v for k, v in query.items() if k != "token"})
        response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
        response.set_cookie(self.keys.cookie, self.keys.token, httponly=True, samesite="strict", path="/")
        return response


def _csrf_refusal(headers: Headers, csrf: str) -> Response | None:
    given = headers.get("x-csrf-token", "")
    if not hmac.compare_digest(given.encode(), csrf.encode()):
        return PlainTextResponse("forbidden: no valid CSRF token (reload the page)", 403)
    origin = headers.get("origin")
    if origin is not None and origin.partition("://")[2] != headers.get("host"):
        return PlainTextResponse("forbidden: the request came from another site", 403)
    if headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return PlainTextResponse("unsupported: changes are JSON requests", 415)
    return None


SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}
