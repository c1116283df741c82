"""The one HTTP mechanism for what is neither Prometheus nor the Kubernetes API: Alertmanager and container
registries (console/alerts/alertmanager.py, console/compat/registry.py). Prometheus is read through
prometheus-api-client in console/metrics/prometheus.py, which takes its session (TLS, no netrc) and its
credential headers from here; the Kubernetes API has its own transport (console/kube).

- **Base URL and credentials.** A bearer token or basic auth go into an ``Authorization`` header only. A
  ``user:password@`` written in a URL is taken out of it (:func:`split_credentials`) and sent the same way:
  it never reaches the resolver, and no message, repr or log line holds it (:func:`public_url` names a
  server). ``~/.netrc`` is not read. An ``Authorization`` header is dropped on a redirect to another host.
- **TLS.** The system's CA store (:func:`tls_verify`), or a CA file, or no verification when the user asked
  (``insecure=True``).
- **Proxies.** From the environment, as kubectl takes them: ``HTTPS_PROXY``/``HTTP_PROXY`` by the URL's scheme,
  not for a host ``NO_PROXY`` names (urllib's ``getproxies``/``proxy_bypass``, which requests reads here too);
  :func:`env_proxy` gives the same answer to the Kubernetes transport (console/kube/transport.py), whose
  aiohttp session would otherwise read ``~/.netrc`` along with them.
- **Time.** A timeout on every call (connect and each read); no retries.
- **Errors.** One exception, :class:`HttpError`, whose message a person can act on and names the URL without
  credentials: ``Alertmanager unreachable at http://host:9093: [Errno 111] Connection refused``,
  ``... unreachable at URL: timed out``, ``Alertmanager at http://host:9093 answered HTTP 400: <the server's
  own message>``.

Each call uses its own connection (as urllib did), so a client keeps no state between calls, may be used
from several threads and needs no closing; nothing is retried on a connection the server has dropped.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import ssl
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from console.core.jsondecode import decode
from console.core.reasons import plain_reason

if TYPE_CHECKING:  # requests (and urllib3) are imported on first use: ~0.1 s off every command's start
    import requests

TIMEOUT_S = 10.0
ERROR_BODY_BYTES = 64 * 1024  # what is read of an error answer, for its message
ErrorKind = Literal["unreachable", "timeout", "status", "answer", "too-large", "url"]
_KEEP = object()  # request(auth=...): the client's own credentials


# ---- URLs and credentials -----------------------------------------------------------------------------------


_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?#@]*@")


def public_url(url: str) -> str:
    """The URL for messages: scheme, host, port and path, without ``user:password@``, query or fragment
    (also when the text is not a URL: ``user:password@host:9093`` is shown as ``host:9093``)."""
    parts = urlsplit(_USERINFO.sub(r"\1", str(url).strip()))
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path.rstrip("/"), "", ""))


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """The URL without ``user:password@`` (no trailing ``/``), and that user and password (percent-decoded)."""
    text = str(url).strip()
    parts = urlsplit(text)
    if parts.username is None:  # none, or the text is not a URL (then whatever precedes an "@" goes)
        return _USERINFO.sub(r"\1", text).rstrip("/"), None, None
    bare = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return bare.rstrip("/"), user, password


def basic_auth(username: str, password: str | None) -> str:
    """An ``Authorization`` header value for basic auth."""
    return "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()


def auth_header(token: str | None = None, username: str | None = None,
                password: str | None = None) -> dict[str, str]:
    """The ``Authorization`` header for a bearer token (first) or basic credentials; none without either."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    if username:
        return {"Authorization": basic_auth(username, password)}
    return {}


# ---- TLS and the session ------------------------------------------------------------------------------------


def tls_verify(insecure: bool = False, ca_file: str | None = None) -> bool | str:
    """requests' ``verify``: False when the user asked for no verification, a CA file when one is given,
    else the system's CA store (as urllib and curl use; requests alone would use certifi's bundle)."""
    if insecure:
        return False
    if ca_file:
        return os.path.expanduser(str(ca_file))
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.capath):
        if candidate and os.path.exists(candidate):
            return candidate
    return True


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY`` for https, ``HTTP_PROXY`` for http, none for
    a host in ``NO_PROXY``), or None; credentials written in it stay in it (they are the proxy's)."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    if not parts.hostname or proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme) or None


def new_session(*, insecure: bool = False, ca_file: str | None = None) -> requests.Session:
    """A requests session with this module's rules: TLS as :func:`tls_verify`, no retries, no netrc, and the
    ``Authorization`` header dropped on a redirect to another host (requests' rule, without its netrc)."""
    return _session_class()(insecure=insecure, ca_file=ca_file)


@functools.cache
def _session_class() -> type[requests.Session]:
    import requests
    from requests.adapters import HTTPAdapter
    from requests.auth import AuthBase
    from urllib3.exceptions import InsecureRequestWarning
    from urllib3.util.retry import Retry

    class HeadersOnly(AuthBase):
        """Session-wide "auth" that adds nothing: credentials are the caller's headers, and requests does not
        go looking in ``~/.netrc`` for others while a session has auth."""

        def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
            return request

    class Session(requests.Session):
        def __init__(self, *, insecure: bool = False, ca_file: str | None = None) -> None:
            super().__init__()
            self.verify = tls_verify(insecure, ca_file)
            self.auth = HeadersOnly()
            no_retries = Retry(total=0, read=False, redirect=False)
            for prefix in ("http://", "https://"):
                self.mount(prefix, HTTPAdapter(max_retries=no_retries))
            if insecure:  # the user asked for it: a warning on every request tells them nothing new
                warnings.filterwarnings("ignore", category=InsecureRequestWarning)

        def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
            original = response.request.url or ""
            if "Authorization" in prepared_request.headers and \
                    self.should_strip_auth(original, prepared_request.url or ""):
                del prepared_request.headers["Authorization"]

    return Session


# ---- errors -------------------------------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it (``__cause__``, urllib3's ``reason``, wrapped arguments, ``__context__``)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, getattr(current, "reason", None), *current.args,
                             current.__context__) if isinstance(e, BaseException)]


def is_timeout(exc: BaseException) -> bool:
    """Whether a request failed for want of an answer in time (urllib3's NewConnectionError is a
    ConnectTimeoutError too: a refused connection is not a timeout)."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

    return any(isinstance(e, requests.Timeout | ReadTimeoutError | TimeoutError)
               or (isinstance(e, ConnectTimeoutError) and not isinstance(e, NewConnectionError)) for e in _chain(exc))


def root_cause(exc: BaseException) -> BaseException:
    """The first cause that is not requests' or urllib3's wrapper (e.g. ``ConnectionRefusedError``)."""
    for e in _chain(exc):
        if type(e).__module__.split(".")[0] not in ("requests", "urllib3"):
            return e
    return exc


def reason_of(exc: BaseException) -> str:
    """Why a request failed, in the words a person can act on (:func:`console.core.reasons.plain_reason`:
    ``timed out``, ``connection refused …``, ``cannot resolve the host name …``, ``TLS: …``). Never the URL
    (requests' own messages repeat it; the callers name it without credentials)."""
    if is_timeout(exc):
        return "timed out"
    return plain_reason(root_cause(exc))


def api_message(body: bytes | str) -> str:
    """A server's reason in an error answer: a JSON string (Alertmanager's ``"silence not found"``),
    ``{"message": ...}``, ``{"error": ...}`` (Prometheus), ``{"errors": [{"code", "message"}]}`` (registries),
    or the text itself (its first 500 characters)."""
    text = (body.decode(errors="replace") if isinstance(body, bytes) else str(body)).strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return " ".join(text[:500].split())
    if isinstance(doc, str):
        return doc
    if isinstance(doc, Mapping):
        for key in ("message", "error"):
            if doc.get(key) and isinstance(doc[key], str):
                return str(doc[key])
        errors = doc.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            first = errors[0]
            code, message = str(first.get("code") or ""), str(first.get("message") or "")
            return f"{code}: {message}" if code and message else code or message
    return " ".join(text[:500].split())


class HttpError(Exception):
    """A request that failed; the message is safe to show (the URL without credentials, never a header).

    ``kind``: ``unreachable`` (refused, DNS, TLS, dropped), ``timeout``, ``status`` (an answer that is not 2xx:
    ``status``, ``body`` (its first 64 KiB) and ``headers`` (names in any case) are set), ``answer`` (not
    JSON), ``too-large`` (more than the caller's ``max_bytes``), ``url`` (not an http(s) URL). ``reason``: the
    short cause (``timed out``, ``[Errno 111] Connection refused``, ``HTTP 400: <the server's message>``);
    ``strerror``: an OS error's text alone (``Connection refused``) when there is one. ``where``: the URL
    named in the message."""

    def __init__(self, message: str, kind: ErrorKind, where: str, *, reason: str = "", status: int | None = None,
                 body: bytes = b"", headers: Mapping[str, str] | None = None, strerror: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.where = where
        self.reason = reason
        self.status = status
        self.body = body
        self.headers: Mapping[str, str] = _any_case(headers or {})  # WWW-Authenticate, Www-Authenticate
        self.strerror = strerror or reason

    @property
    def detail(self) -> str:
        """The server's own message in an error answer (``""`` when it gave none)."""
        return api_message(self.body) if self.body else ""


def _any_case(headers: Mapping[str, str]) -> Mapping[str, str]:
    if not headers:
        return {}
    from requests.structures import CaseInsensitiveDict

    return CaseInsensitiveDict(headers)


def failed(service: str, where: str, exc: BaseException) -> HttpError:
    """The :class:`HttpError` for a request that got no answer (``exc``: requests' or the socket's error)."""
    reason = reason_of(exc)
    root = root_cause(exc)
    strerror = getattr(root, "strerror", None) if isinstance(root, OSError) else None
    return HttpError(f"{service} unreachable at {where}: {reason}", "timeout" if reason == "timed out"
                     else "unreachable", where, reason=reason, strerror=strerror)


def status_error(service: str, where: str, status: int, body: bytes = b"",
                 headers: Mapping[str, str] | None = None) -> HttpError:
    """The :class:`HttpError` for an answer that is not 2xx."""
    detail = api_message(body) if body else ""
    return HttpError(f"{service} at {where} answered HTTP {status}" + (f": {detail}" if detail else ""), "status",
                     where, reason=f"HTTP {status}" + (f": {detail}" if detail else ""), status=status, body=body,
                     headers=headers)


# ---- the client ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A 2xx answer, read whole."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    service: str
    where: str

    def json(self) -> Any:
        """The body as JSON; HttpError (``answer``) when it is not."""
        try:
            return decode(self.body)
        except ValueError:
            raise HttpError(f"unexpected answer from {self.service} at {self.where}: not JSON", "answer", self.where,
                            reason="not JSON") from None


class HttpClient:
    """Requests to one server (``url``: its base, ``service``: its name in messages, e.g. "Alertmanager").

    ``token`` or ``username``/``password`` (else a ``user:password@`` in ``url``) go into every request's
    ``Authorization`` header; ``insecure`` turns TLS verification off, ``ca_file`` trusts that CA instead of
    the system's; ``timeout`` (seconds) bounds the connect and each read. :meth:`request` may also be given an
    absolute URL (a registry's token service); it then gets no credentials unless ``auth`` says which."""

    def __init__(self, url: str, *, service: str, token: str | None = None, username: str | None = None,
                 password: str | None = None, insecure: bool = False, ca_file: str | None = None,
                 timeout: float = TIMEOUT_S, headers: Mapping[str, str] | None = None) -> None:
        bare, url_user, url_password = split_credentials(url)
        parts = urlsplit(bare)
        self.service = service
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # not a number, or out of range
            port_ok = False
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            where = public_url(bare)
            raise HttpError(f"bad {service} URL {where!r}: expected http(s)://host:port", "url", where)
        self.url = bare
        self.where = public_url(bare)
        self.timeout = timeout
        self.insecure = insecure
        self.ca_file = ca_file
        username = username or url_user
        password = password if password is not None else url_password
        self._auth: str | None = auth_header(token, username, password).get("Authorization")
        self._headers = {"User-Agent": "llmctl", **(headers or {})}

    def __repr__(self) -> str:
        return f"HttpClient({self.service!r}, {self.where!r})"

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None,
                accept: str = "application/json", auth: Any = _KEEP, max_bytes: int | None = None) -> Response:
        """``method`` ``path`` (under the base URL, or an absolute http(s) URL) → the 2xx :class:`Response`.

        ``json_body``: sent as JSON. ``auth``: an ``Authorization`` value for this request, None for none
        (default: the client's credentials, for paths under the base URL). ``max_bytes``: a longer body is
        refused (``too-large``). Raises :class:`HttpError`; redirects are followed."""
        absolute = path.startswith(("http://", "https://"))
        url = split_credentials(path)[0] if absolute else self.url + path
        where = public_url(url) if absolute else self.where
        headers = {**self._headers, "Accept": accept}
        credential = (None if absolute else self._auth) if auth is _KEEP else auth
        if credential:
            headers["Authorization"] = credential
        with new_session(insecure=self.insecure, ca_file=self.ca_file) as session:
            try:
                resp = session.request(method, url, params=params, json=json_body, headers=headers,
                                       verify=session.verify,  # else REQUESTS_CA_BUNDLE would replace it
                                       timeout=self.timeout, stream=True, allow_redirects=True)
            except (OSError, ValueError) as exc:  # requests' errors are OSErrors; a URL it cannot use, ValueError
                raise failed(self.service, where, exc) from None
            with resp:
                ok = 200 <= resp.status_code < 300
                limit = (max_bytes if max_bytes is not None else -1) if ok else ERROR_BODY_BYTES
                try:
                    body = _read(resp, limit)
                except OSError as exc:  # the connection dropped, or a read timed out
                    raise failed(self.service, where, exc) from None
                if not ok:
                    raise status_error(self.service, where, resp.status_code, body, resp.headers)
                if max_bytes is not None and len(body) > max_bytes:
                    raise HttpError(f"{self.service} at {where} sent more than {max_bytes} bytes", "too-large",
                                    where, reason=f"more than {max_bytes} bytes")
                return Response(resp.status_code, resp.headers, body, self.service, where)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET path`` as JSON (an empty body is None). Raises :class:`HttpError`."""
        resp = self.request("GET", path, params=params)
        return resp.json() if resp.body.strip() else None


def _read(resp: requests.Response, limit: int) -> bytes:
    """The body; at most ``limit`` + 1 bytes when ``limit`` ≥ 0 (one more says it was longer)."""
    if limit < 0:
        return resp.content
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[:limit + 1]
