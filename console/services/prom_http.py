"""Plain HTTP reads of Prometheus's API for what prometheus-api-client does not cover (``/api/v1/alerts``,
``/api/v1/rules``, ``query_range`` of ``ALERTS``). Credentials only ever go into the request's headers."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

TIMEOUT_S = 10.0


def auth_headers(token: str | None = None, username: str | None = None,
                 password: str | None = None) -> dict[str, str]:
    """The Authorization header for a bearer token or basic credentials (none without either)."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    if username:
        return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()}
    return {}


def settings_headers(settings: Any) -> dict[str, str]:
    """:func:`auth_headers` from the ``prometheus_*`` settings."""
    return auth_headers(settings.prometheus_token, settings.prometheus_username, settings.prometheus_password)


def get_json(url: str, path: str, params: Mapping[str, Any] | None = None, *,
             headers: Mapping[str, str] | None = None, insecure: bool = False,
             timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """``GET url+path?params`` as JSON. An HTTP error whose body is JSON (Prometheus answers its errors so)
    is returned as that body; otherwise urllib's errors propagate (``HTTPError``, ``URLError``, ``OSError``),
    and a body that is not JSON raises ValueError."""
    full = f"{url.rstrip('/')}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    req = urllib.request.Request(full, headers={"Accept": "application/json", **(headers or {})})
    tls = ssl._create_unverified_context() if insecure else None  # the user asked for no verification
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=tls) as resp:
            doc: dict[str, Any] = json.loads(resp.read())
            return doc
    except urllib.error.HTTPError as exc:
        try:
            body: dict[str, Any] = json.loads(exc.read())
        except ValueError:
            raise exc from None
        return body


def settings_get(settings: Any, path: str, params: Mapping[str, Any] | None = None,
                 timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """:func:`get_json` against the configured Prometheus with its credentials and TLS setting."""
    return get_json(settings.prometheus_url, path, params, headers=settings_headers(settings),
                    insecure=settings.prometheus_insecure, timeout=timeout)
