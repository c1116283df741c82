"""How the console reaches a cluster: the kubeconfig (or the pod's service account) loaded the way kubectl
loads it, credentials that stay valid, and a thin raw-JSON transport over the official ``kubernetes.aio``
client.

kubectl's rules, on the official client's loaders (``kubernetes.aio.config``):

- the kubeconfig is ``--kubeconfig`` (that file only; it must exist), else every file listed in
  ``$KUBECONFIG`` (missing ones skipped), else ``~/.kube/config``. Several files are merged with the
  official ``KubeConfigMerger``: the first file to define a cluster, context or user name wins, and the
  current-context comes from the first file that sets one (the official merger lets the last one win);
- with no kubeconfig content, no ``--kubeconfig`` and no ``--context``, a process in a pod uses its service
  account (``KUBERNETES_SERVICE_HOST``/``PORT``, the mounted token and CA), as kubectl does in a Job;
- the official ``KubeConfigLoader`` and ``InClusterConfigLoader`` fill the client's ``Configuration``: server,
  CA data or file, client certificate data or file, ``insecure-skip-tls-verify``, ``tls-server-name``,
  ``proxy-url``, token, tokenFile, user name and password, exec plugins, the oidc and gcp auth-providers.

The official loaders fill a Configuration once; a console runs for days. So before every request the
transport's :class:`Credentials` make the token current — :class:`ExecCredentials` run the exec plugin
again before its ``expirationTimestamp``, :class:`FileTokenCredentials` read a token file again when kubelet
rotates it — and on a 401 they are renewed once and the request sent once more; a second 401 is a
:class:`KubeError` that says which credential was rejected, never a silent loop.

The transport asks the official client for raw responses so that lists of 10,000 pods are parsed once
with ``json`` instead of being turned into pydantic models, and so watch streams can be read line by line.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import copy
import datetime
import functools
import importlib
import json
import os
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REQUEST_TIMEOUT = 10.0  # seconds for one ordinary request
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Where the service account is mounted, for tests and unusual mounts (kubectl has no such setting).
SERVICE_ACCOUNT_DIR_ENV = "LLMCTL_SERVICE_ACCOUNT_DIR"
IN_CLUSTER = "in-cluster"  # the context name shown for a service-account connection (kubectl shows none)
EXEC_TIMEOUT = 120.0  # seconds an exec plugin may take (a cloud CLI's first run can be slow)
EXEC_MARGIN = 30.0  # refresh an exec token this long before it expires (at most a tenth of its lifetime)
EXEC_HOLD = 5.0  # seconds a plugin's failure, or the rejection of the token it has just printed, stands
_LISTS = ("clusters", "contexts", "users")


class KubeError(Exception):
    """An API call that failed; ``code`` is the HTTP status (0 when the server was unreachable or the
    kubeconfig unusable; 401 also when no credential could be had, e.g. a failing exec plugin)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    @property
    def unreachable(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster, as the kubeconfig says (never holds credentials)."""

    context: str
    user: str
    server: str
    namespace: str


async def load_kubernetes() -> Any:
    """Import ``kubernetes.aio`` off the event loop (the import costs ~0.5 s; the UI must not wait)."""
    return await asyncio.to_thread(importlib.import_module, "kubernetes.aio")


# ---- which kubeconfig, which context ---------------------------------------------------------------
def kubeconfig_files(kubeconfig: str | None) -> tuple[list[str], str]:
    """The kubeconfig files to merge, in order, and how they were chosen (for messages).

    ``--kubeconfig`` must exist; files listed in ``$KUBECONFIG`` that do not exist are skipped (kubectl
    does the same), and so is a missing ``~/.kube/config``."""
    if kubeconfig:
        path = os.path.expanduser(kubeconfig)
        if not os.path.isfile(path):
            raise KubeError(0, "NoKubeconfig", f"no kubeconfig at {path} (use --kubeconfig or --sandbox)")
        return [path], path
    listed = os.environ.get("KUBECONFIG", "")
    if listed:
        names = list(dict.fromkeys(os.path.expanduser(p) for p in listed.split(os.pathsep) if p))
        return [p for p in names if os.path.isfile(p)], f"$KUBECONFIG ({listed})"
    default = os.path.expanduser("~/.kube/config")
    return ([default] if os.path.isfile(default) else []), default


def service_account_dir() -> Path:
    return Path(os.environ.get(SERVICE_ACCOUNT_DIR_ENV) or SERVICE_ACCOUNT_DIR)


def in_cluster_possible() -> bool:
    """client-go's rule: both service variables set and a token file mounted."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST") and os.environ.get("KUBERNETES_SERVICE_PORT")
                and (service_account_dir() / "token").is_file())


def auth_kind(user: dict[str, Any]) -> str:
    """The credential a kubeconfig user authenticates with, in the official loader's order: auth-provider,
    exec, token, tokenFile, user name and password; else a client certificate alone, else none."""
    if (user.get("auth-provider") or {}).get("name"):
        return "auth-provider"
    if user.get("exec"):
        return "exec"
    if user.get("token"):
        return "token"
    if user.get("tokenFile"):
        return "token-file"
    if user.get("username") and user.get("password"):
        return "basic"
    if user.get("client-certificate-data") or user.get("client-certificate"):
        return "client-certificate"
    return "none"


@dataclass(frozen=True)
class KubeSelection:
    """The kubeconfig entries (or the service account) a connection uses. ``user`` holds credentials:
    never print it (console.kube.access describes it without them)."""

    files: tuple[str, ...]  # the kubeconfig files merged, in order (empty in-cluster)
    target: KubeTarget
    cluster_name: str
    cluster: dict[str, Any]
    user: dict[str, Any]
    origin: dict[str, str] = field(default_factory=dict)  # file that defined the context, cluster and user
    config: Any = None  # the merged ConfigNode for the official loader (None in-cluster)

    @property
    def in_cluster(self) -> bool:
        return self.config is None

    @property
    def auth_kind(self) -> str:
        return IN_CLUSTER if self.in_cluster else auth_kind(self.user)

    def base(self, part: str) -> str:
        """The folder relative paths of ``part`` ("cluster" or "user") are relative to, as kubectl has it."""
        return os.path.dirname(os.path.abspath(self.origin.get(part) or self.origin.get("cluster") or "."))


@functools.cache
def _official() -> Any:
    """The official merger and loader with kubectl's merge rule, empty files allowed, and the exec plugin
    run on demand with errors that say what failed (the official loader logs a failing plugin and carries
    on without credentials). Made here because their bases are imported lazily."""
    from kubernetes.aio.config import exec_provider, kube_config
    from kubernetes.aio.config.config_exception import ConfigException
    from kubernetes.aio.config.dateutil import parse_rfc3339
    from kubernetes.aio.config.incluster_config import InClusterConfigLoader

    class Merger(kube_config.KubeConfigMerger):  # type: ignore[misc]
        def __init__(self, paths: list[str]) -> None:  # a list: a file name may hold ':'
            self.paths, self.config_files, self.config_merged = list(paths), {}, None
            for path in paths:
                self.load_config(path)
            self.config_saved = copy.deepcopy(self.config_files)

        def load_config(self, path: str) -> None:
            try:
                with open(path) as fh:
                    config = yaml.safe_load(fh) or {}
            except yaml.YAMLError as exc:
                raise KubeError(0, "BadKubeconfig", f"kubeconfig {path} is not valid YAML: {exc}") from None
            if not isinstance(config, dict):
                raise KubeError(0, "BadKubeconfig", f"kubeconfig {path} is not a kubeconfig (a YAML mapping)")
            if self.config_merged is None:
                merged = copy.deepcopy(config)
                merged.pop("current-context", None)
                merged.update({item: [] for item in _LISTS})
                self.config_merged = kube_config.ConfigNode(path, merged, path)
            for item in _LISTS:
                self._merge(item, config.get(item) or [], path)
            if config.get("current-context") and not self.config_merged.value.get("current-context"):
                self.config_merged.value["current-context"] = config["current-context"]  # the first one wins
            self.config_files[path] = config

    class Loader(kube_config.KubeConfigLoader):  # type: ignore[misc]
        async def load_from_exec_plugin(self) -> bool:
            return True  # at load_and_set: deferred, ExecCredentials runs the plugin before the first request

        async def run_exec_plugin(self) -> dict[str, Any]:
            """Run the plugin (the official ExecProvider) and keep its token as the official loader does."""
            exec_config = self._user["exec"]
            command = str(exec_config.safe_get("command") or "?")
            try:
                status = await asyncio.wait_for(exec_provider.ExecProvider(exec_config).run(), EXEC_TIMEOUT)
            except FileNotFoundError:
                hint = str(exec_config.safe_get("installHint") or "").strip()
                raise _plugin_error(command, "not found" + (f": {hint.splitlines()[0]}" if hint else
                                                            " (is it installed and on PATH?)")) from None
            except PermissionError:
                raise _plugin_error(command, "cannot be run: permission denied") from None
            except TimeoutError:
                raise _plugin_error(command, f"did not answer within {EXEC_TIMEOUT:g}s (does it wait for an "
                                             "interactive login? log in from a terminal first)") from None
            except ConfigException as exc:
                raise _plugin_error(command, _plugin_failure(str(exc))) from None
            try:
                expiry = parse_rfc3339(status["expirationTimestamp"]) if status.get("expirationTimestamp") else None
            except (ValueError, TypeError, AttributeError):
                raise _plugin_error(command, "printed a bad expirationTimestamp "
                                             f"{status['expirationTimestamp']!r}") from None
            if status.get("token"):
                self.token = f"Bearer {status['token']}"
            elif not (status.get("clientCertificateData") and status.get("clientKeyData")):
                raise _plugin_error(command, "printed an ExecCredential with neither a token nor a client "
                                             "certificate and key")
            self.exec_plugin_expiry = expiry
            return status

        def certificate_files(self, status: dict[str, Any]) -> tuple[str, str]:
            """The plugin's client certificate and key as files (the official loader's temporary files)."""
            cert, key = (kube_config.FileOrData(status, None, data_key_name=name, base64_file_content=False,
                                                temp_file_path=self._temp_file_path).as_file()
                         for name in ("clientCertificateData", "clientKeyData"))
            return cert, key

    return type("Official", (), {"Merger": Merger, "Loader": Loader, "InCluster": InClusterConfigLoader,
                                 "ConfigException": ConfigException})


def _plugin_error(command: str, what: str) -> KubeError:
    # 401: without a credential nothing can be read; the reflectors show it and retry slowly.
    return KubeError(401, "ExecPluginFailed", f"exec plugin {command} {what}")


def _plugin_failure(text: str) -> str:
    """The official ExecProvider's message, said plainly: the exit code and the first line of stderr."""
    text = text.removeprefix("exec: ")
    exited = re.match(r"process returned (-?\d+)(?:\. (.*))?$", text, re.DOTALL)
    if exited:
        stderr = exited.group(2) or ""
        if re.match(r"b['\"]", stderr):  # the official provider formats stderr's bytes with %s: b'...'
            try:
                stderr = ast.literal_eval(stderr).decode(errors="replace")
            except (ValueError, SyntaxError, AttributeError):
                pass
        first = stderr.strip().splitlines()
        return f"failed (exit {exited.group(1)})" + (f": {first[0]}" if first else "")
    if text.startswith("malformed request"):
        return "is misconfigured in the kubeconfig: " + text
    if text.startswith("failed to decode process output"):
        return "printed no ExecCredential JSON: " + text.split(":", 1)[-1].strip()
    return "printed a bad ExecCredential: " + text


def _service_account_user(token_file: Path) -> str:
    """The ``sub`` claim of a service-account token (``system:serviceaccount:NS:NAME``); not a secret."""
    try:
        payload = token_file.read_text().strip().split(".")[1]
        return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])
    except (OSError, IndexError, ValueError, KeyError, TypeError):
        return "serviceaccount"


def _in_cluster_selection() -> KubeSelection:
    folder = service_account_dir()
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    namespace = os.environ.get("POD_NAMESPACE", "")  # client-go: the downward API variable, then the file
    if not namespace:
        try:
            namespace = (folder / "namespace").read_text().strip()
        except OSError:
            namespace = ""
    target = KubeTarget(IN_CLUSTER, _service_account_user(folder / "token"), server, namespace or "default")
    cluster = {"server": server, "certificate-authority": str(folder / "ca.crt")}
    return KubeSelection((), target, IN_CLUSTER, cluster, {"tokenFile": str(folder / "token")})


def select_kubeconfig(kubeconfig: str | None, context: str | None) -> KubeSelection:
    """Resolve the kubeconfig files (or the pod's service account) and the context, as kubectl does.
    Blocking (reads files); every failure is a :class:`KubeError`."""
    try:
        return _select(kubeconfig, context)
    except KubeError:
        raise
    except Exception as exc:  # a kubeconfig of the wrong shape (an entry without a name, a list for a map)
        raise KubeError(0, "BadKubeconfig", f"cannot load kubeconfig: {type(exc).__name__}: {exc}") from None


def _select(kubeconfig: str | None, context: str | None) -> KubeSelection:
    files, where = kubeconfig_files(kubeconfig)
    official = _official()
    config = official.Merger(files).config if files else None
    empty = config is None or not any(config.value.get(item) for item in _LISTS)
    if empty and not kubeconfig and not context and in_cluster_possible():
        return _in_cluster_selection()
    if config is None:
        if where.startswith("$KUBECONFIG"):
            raise KubeError(0, "NoKubeconfig", f"no kubeconfig: no file listed in {where} exists")
        raise KubeError(0, "NoKubeconfig", f"no kubeconfig at {where} (use --kubeconfig or --sandbox; in a pod: "
                                           "KUBERNETES_SERVICE_HOST/PORT and a service account token)")
    shown = ", ".join(files)
    try:
        contexts = config["contexts"]
        known = ", ".join(str(c["name"]) for c in contexts) or "none"
        name = context or config.value.get("current-context") or ""
        if not name:
            raise KubeError(0, "NoContext", f"no current-context in {shown}: choose one with --context "
                                            f"(contexts: {known})")
        ctx = contexts.get_with_name(name, safe=True)
        if ctx is None:
            raise KubeError(0, "NoContext", f"context {name!r} not found in {shown} (contexts: {known})")
        body = ctx.value.get("context") or {}
        cluster_name = str(body.get("cluster") or "")
        cluster = config["clusters"].get_with_name(cluster_name, safe=True)
        if cluster is None:
            raise KubeError(0, "BadKubeconfig", f"context {name!r} uses cluster {cluster_name!r}, which is not "
                                                f"in {shown}")
        cluster_body = cluster.value.get("cluster") or {}
        if not cluster_body.get("server"):
            raise KubeError(0, "BadKubeconfig", f"cluster {cluster_name!r} in {cluster.path} has no server")
        user_name = str(body.get("user") or "")
        user = config["users"].get_with_name(user_name, safe=True) if user_name else None
        if user_name and user is None:  # kubectl: "cannot locate user" (the official loader goes on anonymously)
            raise KubeError(0, "BadKubeconfig", f"context {name!r} uses user {user_name!r}, which is not in {shown}")
    except official.ConfigException as exc:
        raise KubeError(0, "BadKubeconfig", f"cannot load kubeconfig: {exc}") from None
    origin = {"context": ctx.path, "cluster": cluster.path, **({"user": user.path} if user is not None else {})}
    target = KubeTarget(str(name), user_name, str(cluster_body["server"]), str(body.get("namespace") or "default"))
    user_body = (user.value.get("user") or {}) if user is not None else {}
    return KubeSelection(tuple(files), target, cluster_name, cluster_body, user_body, origin, config)


def read_kubeconfig_target(kubeconfig: str | None, context: str | None) -> KubeTarget:
    """Context, user, server and default namespace, as kubectl resolves them (a blocking file read)."""
    return select_kubeconfig(kubeconfig, context).target


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


def _credentials(selection: KubeSelection, loader: Any) -> Credentials:
    kind = selection.auth_kind
    if kind == "exec":
        return ExecCredentials(loader)
    if kind in ("token-file", IN_CLUSTER):
        path = selection.user["tokenFile"]
        return FileTokenCredentials(path if os.path.isabs(path) else os.path.join(selection.base("user"), path),
                                    kind, _rejection(selection))
    return Credentials(kind, _rejection(selection))


async def connect_target(kubeconfig: str | None, context: str | None) -> tuple[KubeTarget, KubeTransport]:
    """The target and a transport to it, as kubectl would connect: the kubeconfig (or the service account)
    loaded into an official ``kubernetes.aio`` ApiClient with credentials that refresh themselves. No
    request is sent and no exec plugin runs yet. Every failure is a :class:`KubeError`: the official
    loaders' own errors become ``BadKubeconfig``."""
    selection = await asyncio.to_thread(select_kubeconfig, kubeconfig, context)
    proxy = str(selection.cluster.get("proxy-url") or "")
    if proxy and not proxy.startswith(("http://", "https://")):  # aiohttp speaks HTTP(S) proxies only
        raise KubeError(0, "BadKubeconfig", f"proxy-url {proxy.split('://')[0]}:// of cluster "
                                            f"{selection.cluster_name!r} is not supported: use an HTTP(S) proxy")
    k8s = await load_kubernetes()
    official = _official()
    cfg = k8s.client.Configuration()
    loader = None
    try:
        if selection.in_cluster:
            folder = service_account_dir()
            official.InCluster(token_filename=str(folder / "token"), cert_filename=str(folder / "ca.crt"),
                               try_refresh_token=False).load_and_set(cfg)
        else:
            loader = official.Loader(selection.config, active_context=selection.target.context,
                                     config_base_path=None)
            await loader.load_and_set(cfg)
    except KubeError:
        raise
    except Exception as exc:  # the official loaders' own errors (missing files, bad data)
        raise KubeError(0, "BadKubeconfig", f"cannot load kubeconfig: {exc}") from None
    cfg.retries = 0  # we retry ourselves, with backoff and a visible state
    credentials = _credentials(selection, loader)
    client = k8s.client.ApiClient(configuration=cfg)
    credentials.attach(client)
    return selection.target, KubeTransport(client, credentials)


# ---- the transport -------------------------------------------------------------------------------------
async def _lines(content: Any) -> AsyncIterator[bytes]:
    """The lines (without the newline) of a streamed body as they arrive; a last unterminated line too."""
    buf = b""
    async for chunk in content.iter_any():
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line
    if buf:
        yield buf


class KubeTransport:
    """GET/stream raw JSON through an official ``kubernetes.aio`` ApiClient."""

    def __init__(self, api_client: Any, credentials: Credentials | None = None) -> None:
        self._client = api_client
        self.credentials = credentials or Credentials()

    @classmethod
    async def connect(cls, kubeconfig: str | None, context: str | None) -> KubeTransport:
        """A transport for the kubeconfig and context (see :func:`connect_target`)."""
        return (await connect_target(kubeconfig, context))[1]

    async def close(self) -> None:
        await self._client.close()

    async def _send(self, method: str, path: str, query: list[tuple[str, Any]] | None,
                    body: Any, timeout: Any, content_type: str = "application/json",
                    accept: str = "application/json") -> Any:
        """Send with a current credential; on 401 renew it and send once more, then give up, clearly."""
        cfg = self._client.configuration
        await self.credentials.prepare(cfg)
        sent = cfg.api_key.get("BearerToken")
        resp = await self._send_once(method, path, query, body, timeout, content_type, accept)
        if resp.status != 401:
            return resp
        await self._discard(resp)
        if await self.credentials.renew(cfg, sent):
            resp = await self._send_once(method, path, query, body, timeout, content_type, accept)
            if resp.status != 401:
                return resp
            await self._discard(resp)
        raise KubeError(401, "Unauthorized", self.credentials.rejected_message())

    @staticmethod
    async def _discard(resp: Any) -> None:
        try:
            await resp.read()
        except Exception:  # the body of a 401 does not matter; the connection is released either way
            resp.response.release()

    async def _send_once(self, method: str, path: str, query: list[tuple[str, Any]] | None, body: Any,
                         timeout: Any, content_type: str, accept: str) -> Any:
        headers = {"Accept": accept, "Content-Type": content_type}
        method, url, headers, body, post = await self._client.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return await self._client.call_api(method, url, header_params=headers, body=body,
                                               post_params=post, _request_timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"cannot reach the API server: {exc}") from None
        except Exception as exc:  # aiohttp.ClientError and friends, without importing aiohttp here
            if type(exc).__module__.startswith("aiohttp"):
                raise KubeError(0, "Unreachable", f"cannot reach the API server: {exc}") from None
            raise

    @staticmethod
    async def _raise_for_status(resp: Any) -> None:
        if resp.status < 400:
            return
        raw = await resp.read()
        try:
            status = json.loads(raw)
            raise KubeError(resp.status, status.get("reason", ""), status.get("message", raw.decode()))
        except (ValueError, AttributeError):
            raise KubeError(resp.status, str(resp.reason), raw.decode(errors="replace")[:300]) from None

    async def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                      body: Any = None, content_type: str = "application/json",
                      timeout: float = REQUEST_TIMEOUT) -> Any:
        """One request; returns the decoded JSON body or raises :class:`KubeError`."""
        resp = await self._send(method, path, query, body, timeout, content_type)
        await self._raise_for_status(resp)
        try:
            return json.loads(await resp.read())
        except (TimeoutError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"connection lost: {exc}") from None

    async def get(self, path: str, query: list[tuple[str, Any]] | None = None) -> Any:
        return await self.request("GET", path, query)

    async def stream(self, path: str, query: list[tuple[str, Any]], idle_timeout: float) -> AsyncIterator[dict]:
        """Yield watch events (decoded JSON lines). Ends when the server closes the stream;
        raises KubeError when the connection breaks or stays silent for ``idle_timeout`` seconds."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT, sock_read=idle_timeout)
        resp = await self._send("GET", path, query, None, timeout)
        await self._raise_for_status(resp)
        try:
            async for line in _lines(resp.response.content):
                if line.strip():
                    yield json.loads(line)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise KubeError(0, "Unreachable", f"watch connection lost: {exc or type(exc).__name__}") from None
        finally:
            resp.response.release()

    async def stream_text(self, path: str, query: list[tuple[str, Any]],
                          idle_timeout: float | None = None) -> AsyncIterator[str]:
        """Yield the lines (without the newline) of a plain-text response as they arrive — ``pods/log``,
        also with ``follow=true``. ``idle_timeout`` None: wait for the next line for ever. Raises
        KubeError with the API's own message (e.g. ``pods "x" not found``) or when the connection breaks."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT, sock_read=idle_timeout)
        resp = await self._send("GET", path, query, None, timeout, accept="text/plain, application/json")
        await self._raise_for_status(resp)
        try:
            async for line in _lines(resp.response.content):
                yield line.rstrip(b"\r").decode(errors="replace")
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise KubeError(0, "Unreachable", f"log stream lost: {exc or type(exc).__name__}") from None
        finally:
            resp.response.release()
