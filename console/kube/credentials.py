"""Credentials that stay valid while a console runs for days.

The official loaders fill a Configuration once. Before every request the transport's :class:`Credentials`
make the token current — :class:`ExecCredentials` run the exec plugin again before its
``expirationTimestamp``, :class:`FileTokenCredentials` read a token file again when kubelet rotates it —
and on a 401 they are renewed once and the request sent once more; a second 401 is a :class:`KubeError`
that says which credential was rejected, never a silent loop.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from console.kube.errors import KubeError
from console.kube.kubeconfig import IN_CLUSTER, KubeSelection

EXEC_MARGIN = 30.0  # refresh an exec token this long before it expires (at most a tenth of its lifetime)
EXEC_HOLD = 5.0  # seconds a plugin's failure, or the rejection of the token it has just printed, stands

# ---- credentials ---------------------------------------------------------------------------------------
class Credentials:
    """How requests authenticate. This base is for credentials that stay the same for the whole run (a
    kubeconfig token, client certificate, user name and password, an auth-provider's token, or none):
    there is nothing to refresh and a 401 is final."""

    def __init__(self, kind: str = "none", rejected: str = "unauthorized: the API server rejected the credentials"
                 ) -> None:
        self.kind = kind
        self._rejected = rejected
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def attach(self, api_client: Any) -> None:
        """Called once with the ApiClient these credentials serve."""

    async def prepare(self, cfg: Any) -> None:
        """Before each request: make the credential in ``cfg`` (the client's Configuration) current."""

    async def renew(self, cfg: Any, rejected: str | None) -> bool:
        """After a 401 for the credential ``rejected``: get a new one; True when there is one to retry with."""
        return False

    def rejected_message(self) -> str:
        """What to tell the user when the API server keeps answering 401."""
        return self._rejected

    def _guard(self) -> asyncio.Lock:
        """One refresh at a time (the watches' first requests all find the token due together)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock


# The last credential of each exec configuration, shared by every transport of the process (client-go
# caches them the same way), so the console, its actions and the deploy engine run the plugin once.
_EXEC_CACHE: dict[str, tuple[str | None, datetime.datetime | None, float]] = {}
_EXEC_CACHE_LOCK = threading.Lock()


def _fresh(expiry: datetime.datetime | None, margin: float) -> bool:
    return expiry is None or (expiry - datetime.datetime.now(datetime.UTC)).total_seconds() > margin


class ExecCredentials(Credentials):
    """A kubeconfig user with an exec plugin (``aws eks get-token``, ``gke-gcloud-auth-plugin``, kubelogin,
    ...). The plugin runs before the first request, again before the token's ``expirationTimestamp`` (less
    a small margin), and once more when the API server answers 401 anyway; if the token it has just
    printed is rejected too, that is final: ``unauthorized: the token from exec plugin CMD was rejected``."""

    def __init__(self, loader: Any) -> None:
        exec_config = loader._user["exec"].value
        self.command = str(exec_config.get("command") or "?")
        super().__init__("exec", f"unauthorized: the token from exec plugin {self.command} was rejected")
        self._loader = loader
        self._key = json.dumps(exec_config, sort_keys=True, default=str)
        self._have = False  # a credential is loaded
        self._expiry: datetime.datetime | None = None
        self._margin = 0.0
        self._ssl: Any = None
        self._failed: tuple[float, KubeError] | None = None  # the last failure, for the requests waiting on it
        self._renewed: tuple[float, str | None] | None = None  # when a 401 last made the plugin run, and its token
        self.runs = 0  # how often this transport ran the plugin

    def attach(self, api_client: Any) -> None:
        self._ssl = api_client.rest_client.ssl_context  # for a plugin that answers with a client certificate

    def _adopt_cached(self, cfg: Any, rejected: str | None = None) -> bool:
        with _EXEC_CACHE_LOCK:
            cached = _EXEC_CACHE.get(self._key)
        if cached is None or cached[0] is None or cached[0] == rejected or not _fresh(cached[1], cached[2]):
            return False
        cfg.api_key["BearerToken"] = cached[0]
        self._have, self._expiry, self._margin = True, cached[1], cached[2]
        return True

    async def prepare(self, cfg: Any) -> None:
        if self._have and _fresh(self._expiry, self._margin):
            return
        async with self._guard():
            if not (self._have and _fresh(self._expiry, self._margin)) and not self._adopt_cached(cfg):
                await self._run(cfg)

    async def renew(self, cfg: Any, rejected: str | None) -> bool:
        async with self._guard():
            if cfg.api_key.get("BearerToken") != rejected:
                return True  # another request renewed it while this one was on its way
            last = self._renewed
            if (last is not None and last[1] == rejected and time.monotonic() - last[0] < EXEC_HOLD
                    and _fresh(self._expiry, 0.0)):
                return False  # the unexpired token the plugin printed for the last 401 is refused too: final
            if not self._adopt_cached(cfg, rejected):
                await self._run(cfg)
            self._renewed = (time.monotonic(), cfg.api_key.get("BearerToken"))
            return True

    async def _run(self, cfg: Any) -> None:
        now = time.monotonic()
        if self._failed is not None and now - self._failed[0] < EXEC_HOLD:
            raise self._failed[1]  # the requests that queued behind a failing run share its failure
        self.runs += 1
        try:
            status = await self._loader.run_exec_plugin()
        except KubeError as exc:
            self._failed = (now, exc)
            raise
        self._failed = None
        expiry = self._loader.exec_plugin_expiry
        lifetime = 0.0 if expiry is None else (expiry - datetime.datetime.now(datetime.UTC)).total_seconds()
        self._have, self._expiry, self._margin = True, expiry, min(EXEC_MARGIN, max(0.0, lifetime) / 10)
        token = None
        if status.get("token"):
            token = cfg.api_key["BearerToken"] = self._loader.token
        elif self._ssl is not None:  # a client certificate: connections opened from now on present it
            self._ssl.load_cert_chain(*self._loader.certificate_files(status))
        with _EXEC_CACHE_LOCK:
            _EXEC_CACHE[self._key] = (token, self._expiry, self._margin)


class FileTokenCredentials(Credentials):
    """A bearer token kept in a file: the service account's (kubelet rotates projected tokens, at the
    latest after 80 % of their hour) or a kubeconfig user's ``tokenFile``. Read again whenever the file
    changes, and once on a 401 (in case it changed without its inode, size or time showing it)."""

    def __init__(self, path: str, kind: str, rejected: str) -> None:
        super().__init__(kind, rejected)
        self.path = path
        self._seen: tuple[int, int, int] | None = None

    def _stamp(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise KubeError(401, "NoTokenFile", f"cannot read the token file {self.path}: {exc.strerror}") from None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _read(self, cfg: Any) -> None:
        stamp = self._stamp()
        try:
            token = Path(self.path).read_text().strip()
        except OSError as exc:
            raise KubeError(401, "NoTokenFile", f"cannot read the token file {self.path}: {exc.strerror}") from None
        if not token:
            raise KubeError(401, "NoTokenFile", f"the token file {self.path} is empty")
        cfg.api_key["BearerToken"] = f"Bearer {token}"
        self._seen = stamp

    async def prepare(self, cfg: Any) -> None:
        if self._stamp() != self._seen:
            self._read(cfg)

    async def renew(self, cfg: Any, rejected: str | None) -> bool:
        async with self._guard():
            self._read(cfg)
            return cfg.api_key.get("BearerToken") != rejected


def _rejection(selection: KubeSelection) -> str:
    kind, target = selection.auth_kind, selection.target
    user = target.user
    messages = {
        "token": f'unauthorized: the token of user "{user}" in the kubeconfig was rejected',
        "token-file": f"unauthorized: the token from file {selection.user.get('tokenFile')} was rejected",
        IN_CLUSTER: f"unauthorized: the service account token from {selection.user.get('tokenFile')} was rejected",
        "basic": f'unauthorized: the user name and password of user "{user}" were rejected',
        "client-certificate": f'unauthorized: the client certificate of user "{user}" was rejected',
        "auth-provider": f"unauthorized: the {(selection.user.get('auth-provider') or {}).get('name')} "
                         f'auth-provider token of user "{user}" was rejected',
    }
    if kind in messages:
        return messages[kind]
    if user:
        return f'unauthorized: user "{user}" of context "{target.context}" has no credentials'
    return f'unauthorized: context "{target.context}" names no user, so requests are anonymous'


def credentials_for(selection: KubeSelection, loader: Any) -> Credentials:
    kind = selection.auth_kind
    if kind == "exec":
        return ExecCredentials(loader)
    if kind in ("token-file", IN_CLUSTER):
        path = selection.user["tokenFile"]
        return FileTokenCredentials(path if os.path.isabs(path) else os.path.join(selection.base("user"), path),
                                    kind, _rejection(selection))
    return Credentials(kind, _rejection(selection))
