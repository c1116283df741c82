"""Why a connection failed, in plain words (console.core.reasons): never '[Errno -2] ...'."""

from __future__ import annotations

import socket
import ssl

from console.core.reasons import plain_reason


def test_plain_reasons() -> None:
    assert plain_reason(socket.gaierror(socket.EAI_NONAME, "Name or service not known")).startswith(
        "cannot resolve the host name")
    assert plain_reason(ConnectionRefusedError(111, "Connection refused")).startswith("connection refused")
    assert plain_reason(TimeoutError()) == "timed out"
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert plain_reason(wrapped).startswith("cannot resolve")
    cert = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                           "self-signed certificate (_ssl.c:1006)")
    assert plain_reason(cert) == "TLS: the server's certificate was not accepted (self-signed certificate)"
    assert plain_reason(OSError(99, "Cannot assign requested address")) == "cannot assign requested address"
    assert "Errno" not in plain_reason(OSError("[Errno 5] odd"))
