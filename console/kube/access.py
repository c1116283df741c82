"""Where the cluster is and who we are there: a kubeconfig and a context, resolved once, as kubectl would.

Every service that talks to the API (the watches, actions, the compatibility check, the deploy engine,
the incident snapshot, pod logs) shares one :class:`KubeAccess`, so they all reach the same cluster as
the same user. With ``--sandbox`` the kubeconfig does not exist until the in-process sandbox serves:
``prepare`` starts it (blocking, so it runs in a thread) the first time anything needs the cluster,
never at start-up, so the first frame does not wait for it.

How the kubeconfig is found and merged, the in-cluster fallback and the credentials that refresh
themselves live in :mod:`console.kube.transport`; :func:`describe` says what is in use — which files,
context, cluster, user and kind of credential — without ever returning a secret.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from console.kube.errors import KubeTarget
from console.kube.kubeconfig import IN_CLUSTER, KubeSelection, select_kubeconfig
from console.kube.transport import KubeTransport, connect_target


@dataclass(frozen=True)
class KubeSource:
    """Where the connection goes and how it authenticates: what ``llmctl config view`` shows.

    ``auth["kind"]`` is one of token, token-file, exec, client-certificate, basic, auth-provider, in-cluster
    or none; the other keys name the command, file or user name — never a token, key or password."""

    files: tuple[str, ...]  # the kubeconfig files merged, in order (empty in-cluster)
    context: str
    cluster: str
    server: str
    namespace: str
    user: str
    auth: dict[str, Any]
    tls: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # which file defined the context, cluster and user

    @property
    def target(self) -> KubeTarget:
        return KubeTarget(self.context, self.user, self.server, self.namespace)

    def as_dict(self) -> dict[str, Any]:
        return {"kubeconfig": list(self.files), "context": self.context, "cluster": self.cluster,
                "server": self.server, "namespace": self.namespace, "user": self.user, "auth": self.auth,
                "tls": self.tls, "defined_in": self.origin}


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:REDACTED@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _resolve(base: str, path: str) -> str:
    """A kubeconfig path made absolute against the file that holds it (kubectl's ResolvePaths)."""
    return os.path.normpath(os.path.join(base, path))


def _certificate_subject(pem: bytes) -> str:
    """``CN=alice,O=system:masters`` of a PEM certificate: the user name and groups the API server reads."""
    try:
        from cryptography import x509

        return x509.load_pem_x509_certificate(pem).subject.rfc4514_string()
    except Exception:  # not a certificate that can be read here: the API server will say so
        return ""


def _describe_auth(selection: KubeSelection) -> dict[str, Any]:
    user, base, kind = selection.user, selection.base("user"), selection.auth_kind
    auth: dict[str, Any] = {"kind": kind}
    if kind == IN_CLUSTER:
        auth["token_file"] = user["tokenFile"]
    elif kind == "auth-provider":
        auth["provider"] = user["auth-provider"]["name"]
    elif kind == "exec":
        ex = user["exec"]
        auth.update(command=ex.get("command", ""), args=list(ex.get("args") or []),
                    apiVersion=ex.get("apiVersion", ""))
        if ex.get("env"):
            auth["env"] = [e.get("name", "") for e in ex["env"]]  # names only: values may be secrets
    elif kind == "token-file":
        auth["file"] = _resolve(base, user["tokenFile"])
    elif kind == "basic":
        auth["username"] = user["username"]
    pem = b""
    if user.get("client-certificate-data"):
        auth["client_certificate"] = "(inline data)"
        try:
            pem = base64.b64decode(user["client-certificate-data"])
        except (ValueError, TypeError):
            pem = b""
    elif user.get("client-certificate"):
        auth["client_certificate"] = path = _resolve(base, user["client-certificate"])
        try:
            pem = Path(path).read_bytes()
        except OSError:
            pem = b""
    if pem:
        auth["certificate_subject"] = _certificate_subject(pem)
    return auth


def _describe_tls(selection: KubeSelection) -> dict[str, Any]:
    cluster, base = selection.cluster, selection.base("cluster")
    tls: dict[str, Any] = {}
    if cluster.get("certificate-authority-data"):
        tls["certificate_authority"] = "(inline data)"
    elif cluster.get("certificate-authority"):
        tls["certificate_authority"] = _resolve(base, cluster["certificate-authority"])
    elif str(cluster.get("server", "")).startswith("https"):
        tls["certificate_authority"] = "(system roots)"
    if cluster.get("insecure-skip-tls-verify"):
        tls["insecure_skip_tls_verify"] = True
    if cluster.get("tls-server-name"):
        tls["tls_server_name"] = cluster["tls-server-name"]
    if cluster.get("proxy-url"):
        tls["proxy_url"] = _redact_url(str(cluster["proxy-url"]))
    return tls


def describe(kubeconfig: str | None, context: str | None) -> KubeSource:
    """What a connection with this kubeconfig and context uses (blocking; raises ``KubeError``)."""
    selection = select_kubeconfig(kubeconfig, context)
    t = selection.target
    return KubeSource(selection.files, t.context, selection.cluster_name, t.server, t.namespace, t.user,
                      _describe_auth(selection), _describe_tls(selection), dict(selection.origin))


class KubeAccess:
    """A kubeconfig path (None: ``$KUBECONFIG``, ``~/.kube/config`` or in-cluster) and a context (None: current)."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 prepare: Callable[[], str] | None = None) -> None:
        self._kubeconfig = kubeconfig
        self.context = context
        self._prepare = prepare  # blocking; returns the kubeconfig to use (e.g. waits for the sandbox)
        self._lock = threading.Lock()

    @property
    def kubeconfig(self) -> str | None:
        """The kubeconfig as known now (before :meth:`resolve` with a pending ``prepare``: None)."""
        return self._kubeconfig

    @property
    def pending(self) -> bool:
        """True until a ``prepare`` step (the in-process sandbox) has run."""
        return self._prepare is not None

    def resolve_blocking(self) -> str | None:
        """Run ``prepare`` once (whoever asks first), then return the kubeconfig."""
        with self._lock:
            if self._prepare is not None:
                self._kubeconfig = self._prepare()
                self._prepare = None
            return self._kubeconfig

    async def resolve(self) -> str | None:
        return await asyncio.to_thread(self.resolve_blocking)

    async def describe(self) -> KubeSource:
        """Which files, context, cluster, user and kind of credential a connection uses (no secret)."""
        kubeconfig = await self.resolve()
        return await asyncio.to_thread(describe, kubeconfig, self.context)

    async def connect(self) -> tuple[KubeTarget, KubeTransport]:
        """The kubeconfig's target and a new transport to it (:func:`connect_target`'s errors)."""
        kubeconfig = await self.resolve()
        return await connect_target(kubeconfig, self.context)
