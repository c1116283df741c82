"""Which kubeconfig, which context: the kubeconfig (or the pod's service account) chosen and merged the way
kubectl does it, on the official client's loaders (``kubernetes.aio.config``).

- the kubeconfig is ``--kubeconfig`` (that file only; it must exist), else every file listed in
  ``$KUBECONFIG`` (missing ones skipped), else ``~/.kube/config``. Several files are merged with the
  official ``KubeConfigMerger``: the first file to define a cluster, context or user name wins, and the
  current-context comes from the first file that sets one (the official merger lets the last one win);
- with no kubeconfig content, no ``--kubeconfig`` and no ``--context``, a process in a pod uses its service
  account (``KUBERNETES_SERVICE_HOST``/``PORT``, the mounted token and CA), as kubectl does in a Job;
- the official ``KubeConfigLoader`` and ``InClusterConfigLoader`` fill the client's ``Configuration``: server,
  CA data or file, client certificate data or file, ``insecure-skip-tls-verify``, ``tls-server-name``,
  ``proxy-url``, token, tokenFile, user name and password, exec plugins, the oidc and gcp auth-providers.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import copy
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.yamlsafe import YamlError, safe_load
from console.kube.errors import KubeError, KubeTarget
from console.kube.official import kubernetes_aio

REQUEST_TIMEOUT = 10.0  # seconds for one ordinary request
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Where the service account is mounted, for tests and unusual mounts (kubectl has no such setting).
SERVICE_ACCOUNT_DIR_ENV = "LLMCTL_SERVICE_ACCOUNT_DIR"
IN_CLUSTER = "in-cluster"  # the context name shown for a service-account connection (kubectl shows none)
EXEC_TIMEOUT = 120.0  # seconds an exec plugin may take (a cloud CLI's first run can be slow)
_LISTS = ("clusters", "contexts", "users")


# ---- which kubeconfig, which context ---------------------------------------------------------------
def kubeconfig_files(kubeconfig: str | None) -> tuple[list[str], str]:
    """The kubeconfig files to merge, in order, and how they were chosen (for messages).

    ``--kubeconfig`` must exist; files listed in ``$KUBECONFIG`` that do not exist are skipped (kubectl
    does the same), and so is a missing ``~/.kube/config``."""
    if kubeconfig:
        path = os.path.expanduser(kubeconfig)
        if os.path.isdir(path):
            raise KubeError(0, "BadKubeconfig", f"kubeconfig {path} is a directory, not a file")
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
def official_loaders() -> Any:
    """The official merger and loader with kubectl's merge rule, empty files allowed, and the exec plugin
    run on demand with errors that say what failed (the official loader logs a failing plugin and carries
    on without credentials). Made here because their bases are imported lazily."""
    kubernetes_aio()  # the loaders without the rest of the package (console/kube/official.py)
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
                with open(path, encoding="utf-8") as fh:
                    config = safe_load(fh.read(), f"kubeconfig {path}") or {}  # alias bombs refused
            except YamlError as exc:
                raise KubeError(0, "BadKubeconfig", str(exc)) from None
            except UnicodeDecodeError:
                raise KubeError(0, "BadKubeconfig", f"kubeconfig {path} is not a text file") from None
            except IsADirectoryError:
                raise KubeError(0, "BadKubeconfig", f"kubeconfig {path} is a directory, not a file") from None
            except OSError as exc:
                raise KubeError(0, "BadKubeconfig", f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
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
    official = official_loaders()
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


def context_names(kubeconfig: str | None) -> tuple[list[str], str]:
    """The contexts of the merged kubeconfig files, in file order, and the current-context ("" for none) —
    what ``kubectl config get-contexts`` lists. Blocking; every failure is a :class:`KubeError`."""
    files, where = kubeconfig_files(kubeconfig)
    if not files:
        raise KubeError(0, "NoKubeconfig", f"no kubeconfig at {where}")
    try:
        config = official_loaders().Merger(files).config
        names = [str(c.value["name"]) for c in config.value.get("contexts") or [] if c.value.get("name")]
        return names, str(config.value.get("current-context") or "")
    except Exception as exc:  # the official loader's errors, or a kubeconfig of the wrong shape
        raise KubeError(0, "BadKubeconfig", f"cannot load kubeconfig: {exc}") from None
