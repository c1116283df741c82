"""Why a connection failed, in words a person can act on — not ``[Errno -2] Name or service not known``.

Pure: it reads the exception chain (``__cause__``/``__context__``) and names the first cause it knows.
"""

from __future__ import annotations

import errno
import socket
import ssl

_RESOLVE = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5), socket.EAI_AGAIN, socket.EAI_FAIL}
_WORDS = {
    errno.ECONNREFUSED: "connection refused (nothing listens on that port)",
    errno.ECONNRESET: "connection reset by the server",
    errno.EHOSTUNREACH: "no route to the host",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ETIMEDOUT: "timed out",
    errno.EPIPE: "the connection was closed",
    errno.ENOENT: "no such socket or file",
    errno.EACCES: "permission denied",
}


def _ssl_text(exc: BaseException) -> str:
    """``[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: X (_ssl.c:1006)`` → ``X``."""
    text = str(exc)
    for marker in ("certificate verify failed: ", "] "):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    return text.split(" (_ssl.c:", 1)[0].rstrip().rstrip("'\")]")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def plain_reason(exc: BaseException) -> str:
    """``cannot resolve the host name``, ``connection refused …``, ``timed out``, ``TLS: certificate verify
    failed …`` — else the deepest cause's own text without its ``[Errno N]`` prefix."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, socket.gaierror) and e.errno in _RESOLVE:
            return "cannot resolve the host name (check the URL, DNS or /etc/hosts)"
        if isinstance(e, ssl.SSLCertVerificationError):
            why = getattr(e, "verify_message", None) or _ssl_text(e)
            return f"TLS: the server's certificate was not accepted ({why})"
        if isinstance(e, ssl.SSLError):
            return f"TLS: {getattr(e, 'reason', None) or _ssl_text(e)}"
        if isinstance(e, TimeoutError | socket.timeout):
            return "timed out"
        if isinstance(e, OSError) and e.errno in _WORDS:
            return _WORDS[e.errno]
    deepest = chain[-1]
    if isinstance(deepest, OSError) and deepest.strerror:
        return deepest.strerror[:1].lower() + deepest.strerror[1:]
    text = str(deepest) or type(deepest).__name__
    return text.split("] ", 1)[1] if text.startswith("[Errno") and "] " in text else text
