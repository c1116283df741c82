"""Authentication as kube-apiserver chains it: a verified client certificate first, then a bearer token.

kube-apiserver tries its authenticators in order — x509 client certificates (``--client-ca-file``), then
bearer tokens (static, service-account, webhook/OIDC) — and answers 401 when none knows the caller.
:func:`use_client_certificates` puts that chain in place of the API's bearer-only middleware on the
served app (the TLS layer has already refused any certificate its client CA did not sign).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .api import AUTH, PUBLIC_PATHS, USER, Handler, auth_middleware
from .auth import User, unauthorized


def peer_certificate(request: web.Request) -> dict[str, Any] | None:
    """The verified client certificate of the request's TLS connection (``ssl.getpeercert()``), if any."""
    transport = request.transport
    if transport is None:
        return None
    cert = transport.get_extra_info("peercert")
    return cert or None


def authenticate(request: web.Request) -> User | None:
    auth = request.app[AUTH]
    return auth.authenticate_certificate(peer_certificate(request)) or \
        auth.authenticate(request.headers.get("Authorization"))


@web.middleware
async def x509_then_token_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Certificate → user, else bearer token → user (401 without either); authorization is per route."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    user = authenticate(request)
    if user is None:
        raise unauthorized()
    request[USER] = user
    return await handler(request)


def use_client_certificates(app: web.Application) -> web.Application:
    """Authenticate client certificates too on ``app`` (from :func:`~console.sandbox.api.make_app`, not
    yet started): its bearer-token middleware is replaced by the x509-then-token chain."""
    middlewares = list(app.middlewares)
    if auth_middleware not in middlewares:
        raise RuntimeError("the API app has no bearer-token middleware to extend")
    app.middlewares[middlewares.index(auth_middleware)] = x509_then_token_middleware
    return app
