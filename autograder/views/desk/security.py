"""The desk's access rules: a random token (printed in the URL, as Jupyter does) for every
request, then kept in an HttpOnly, SameSite=Strict cookie; a CSRF token derived from it in
every form (and a same-origin check of POSTs); a Content-Security-Policy and no caching on
every response."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "cnngrade_desk"
# the desk's own pages: scripts and styles only from the package, nothing from elsewhere;
# frames only of the desk itself (the feedback page, sandboxed)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
           "X-Frame-Options": "DENY"}
REFUSED = ("This desk needs the token of the URL `cnngrade serve` printed; open that URL "
           "(http://127.0.0.1:PORT/?token=...).")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(token: str) -> str:
    """The forms' CSRF token: derived from the access token, so that a page of another site
    (which cannot read the desk's pages) cannot know it."""
    return hmac.new(token.encode(), b"cnngrade-desk-csrf", hashlib.sha256).hexdigest()


def same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class TokenGate:
    """ASGI middleware: a request with `?token=` right gets the cookie and is sent on to the
    same URL without the token; one with the cookie right goes through; every other one is
    refused with 403. Every response gets HEADERS (the feedback frame keeps its own CSP)."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        if same(given, self.token):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = URL(scope=scope).replace(query=urlencode(rest))
            response: Response = RedirectResponse(str(target.path) + (
                f"?{target.query}" if target.query else ""), status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict",
                                path="/")
        elif not same(request.cookies.get(COOKIE), self.token):
            response = PlainTextResponse(REFUSED, status_code=403)
        else:
            await self.app(scope, receive, _with_headers(send))
            return
        await response(scope, receive, _with_headers(send))


def _with_headers(send: Send) -> Send:
    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            present = {k.decode().lower() for k, _ in message.get("headers", [])}
            message["headers"] = list(message.get("headers", [])) + [
                (k.lower().encode(), v.encode()) for k, v in HEADERS.items()
                if k.lower() not in present]
        await send(message)
    return wrapped


def check_post(request: Request, form_csrf: str | None, token: str) -> str | None:
    """Why a POST is refused (None: it is not): a wrong CSRF token, or an Origin other than
    the desk's own."""
    if not same(form_csrf, csrf_token(token)):
        return "This form's CSRF token is wrong or missing; reload the page and try again."
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        return f"A form from another site ({origin}) was refused."
    return None
