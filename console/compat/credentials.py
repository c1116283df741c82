"""Registry credentials as ``docker`` finds them, through docker-py's own resolution (:mod:`docker.auth`):
the Docker config (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``) with its ``auths``
entries (``docker login``), its ``credsStore`` and its per-registry ``credHelpers``, which run the
``docker-credential-NAME`` helper on PATH (``get``, and ``list`` for a build's credentials).

One resolver for the registry client (image facts without pulling) and for pushes (console/builds/engine.py).
The config is read on each lookup (a ``docker login`` after start-up counts); a broken ``auths`` entry is
skipped, as the Docker CLI skips it. A secret is only ever returned to the caller that sends it: it is kept
out of every repr, message and log line here — a helper's failure is reported by its name and its first
line of output, never with what was asked of it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCKER_HUB = "docker.io"
HUB_AUTH_KEY = "https://index.docker.io/v1/"
HELPER_PREFIX = "docker-credential-"
TOKEN_USER = "<token>"  # what a helper answers as Username for an identity token


class CredentialError(Exception):
    """The credentials for a registry could not be read; the message is safe to show."""


@dataclass(frozen=True)
class Credential:
    """A user and secret for one registry, and where they came from (for messages)."""

    username: str
    secret: str = field(repr=False)
    source: str = "the Docker config"  # "credential helper docker-credential-pass", "the Docker config's auths"
    identity_token: bool = False  # the secret is an OAuth refresh token (``docker login`` with SSO)

    def __str__(self) -> str:
        return f"credentials of {self.username or '?'} from {self.source}"


def config_file(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The Docker config docker-py reads: ``path``, else ``$DOCKER_CONFIG/config.json``, else
    ``~/.docker/config.json`` (None when there is none)."""
    from docker.utils import config as docker_config

    if path:
        return Path(path) if Path(path).is_file() else None
    found = docker_config.find_config_file()
    return Path(found) if found else None


def _hub(registry: str) -> str:
    return DOCKER_HUB if registry in ("", "index.docker.io", "registry-1.docker.io", HUB_AUTH_KEY) else registry


@dataclass
class DockerCredentials:
    """Credentials per registry host (``docker.io`` for Docker Hub) from the Docker config."""

    path: str | os.PathLike[str] | None = None  # None: where docker-py looks

    def where(self) -> str:
        found = config_file(self.path)
        return str(found) if found else str(Path(os.environ.get("DOCKER_CONFIG") or "~/.docker") / "config.json")

    def _document(self) -> dict[str, Any]:
        found = config_file(self.path)
        try:
            doc = json.loads(found.read_text()) if found is not None else None
        except (OSError, ValueError):
            doc = None
        return doc if isinstance(doc, dict) else {}

    def broken_entries(self, doc: dict[str, Any] | None = None) -> list[str]:
        """The ``auths`` keys docker-py cannot decode (bad base64, no ``user:password``): docker-py's own client
        refuses to start over them, where the Docker CLI only warns."""
        from docker import auth as docker_auth

        auths = (doc if doc is not None else self._document()).get("auths")
        bad = []
        for key, entry in (auths if isinstance(auths, dict) else {}).items():
            try:
                docker_auth.parse_auth({key: entry}, raise_on_error=True)
            except Exception:  # binascii.Error, ValueError, UnicodeDecodeError, InvalidConfigFile
                bad.append(str(key))
        return bad

    def load(self) -> Any:
        """docker-py's ``AuthConfig`` for the config file; broken ``auths`` entries left out."""
        from docker import auth as docker_auth

        doc = self._document()
        if not doc:
            return docker_auth.AuthConfig({})
        auths = doc.get("auths")
        if isinstance(auths, dict):
            bad = set(self.broken_entries(doc))
            doc = {**doc, "auths": {k: v for k, v in auths.items() if k not in bad}}
        try:
            return docker_auth.load_config(config_dict=doc)
        except Exception:
            return docker_auth.AuthConfig({})

    def helper(self, registry: str, config: Any = None) -> str | None:
        """The credential helper program docker asks for this registry (``docker-credential-NAME``), if any."""
        config = config if config is not None else self.load()
        if not (config.creds_store or config.cred_helpers):
            return None
        name = config.get_credential_store(_hub(registry))
        return f"{HELPER_PREFIX}{name}" if name else None

    def _check_helper(self, program: str | None, what: str) -> None:
        if program and shutil.which(program) is None:
            raise CredentialError(f"the Docker config {self.where()} names credential helper {program} for {what}, "
                                  "but it is not on PATH (install it, or remove credsStore/credHelpers)")

    def _resolve(self, registry: str) -> tuple[dict[str, Any] | None, str | None]:
        from docker.errors import DockerException

        config = self.load()
        program = self.helper(registry, config)
        self._check_helper(program, registry)
        try:
            found = config.resolve_authconfig(registry)
        except DockerException as exc:
            raise CredentialError(helper_failure(program, exc)) from None
        return (dict(found) if found else None), program

    def lookup(self, registry: str) -> tuple[dict[str, Any] | None, str]:
        """docker-py's resolution for ``registry`` (``resolve_authconfig``): the dict a push sends to the engine
        (``username``/``password``, ``Username``/``Password`` or ``IdentityToken``) or None, and where it came
        from, in words. Raises CredentialError when a helper is missing or fails."""
        found, program = self._resolve(_hub(registry))
        if found and program and "ServerAddress" in found:  # a store's answer (docker.auth adds ServerAddress)
            return found, f"credential helper {program}"
        return found, f"the Docker config's auths ({self.where()})"

    def auth_config(self, registry: str) -> dict[str, Any] | None:
        """The dict of :meth:`lookup` alone."""
        return self.lookup(registry)[0]

    def get(self, registry: str) -> Credential | None:
        """The user and secret for ``registry``, or None when the config has none for it. Raises
        CredentialError when a helper is missing or fails."""
        found, source = self.lookup(registry)
        if not found:
            return None
        user = str(found.get("username") or found.get("Username") or "")
        secret = str(found.get("password") or found.get("Password") or "")
        token = found.get("IdentityToken")
        if token:
            return Credential(user or TOKEN_USER, str(token), source, identity_token=True)
        if not user and not secret:
            return None
        return Credential(user, secret, source)

    def check_build_helpers(self) -> None:
        """Raise CredentialError when a helper the config names is missing: a build asks every one of them
        (docker-py sends all the config's credentials with a build)."""
        config = self.load()
        if config.creds_store:
            self._check_helper(f"{HELPER_PREFIX}{config.creds_store}", "every registry (credsStore)")
        for registry, name in (config.cred_helpers or {}).items():
            self._check_helper(f"{HELPER_PREFIX}{name}", registry)


def helper_failure(program: str | None, exc: BaseException) -> str:
    """A failed credential lookup, in words: the helper's name and the first line of what it printed."""
    from docker.credentials import StoreError

    # docker.auth wraps the helper's StoreError in a DockerException whose text is its repr (newlines escaped).
    store_error = exc.__cause__ if isinstance(exc.__cause__, StoreError) else exc
    text = str(store_error)
    named = re.search(rf"{HELPER_PREFIX}[\w.-]+", text)
    program = program or (named.group(0) if named else None)
    inner = text.split('exited with "', 1)[1].rsplit('"', 1)[0] if 'exited with "' in text else ""
    first = inner.strip().splitlines()[0][:160] if inner.strip() else ""
    who = program or "the Docker credential store"
    if "not installed or not available in PATH" in text:
        return f"credential helper {who} is not on PATH"
    return f"credential helper {who} failed" + (f": {first}" if first else "")


def docker_credentials(path: Path | None = None) -> dict[str, tuple[str, str]]:
    """host → (user, password) of the Docker config's ``auths`` entries alone (no helper is run); {} without
    a config. Broken entries are skipped."""
    from docker import auth as docker_auth

    config = DockerCredentials(path).load()
    out = {}
    for key, entry in (config.auths or {}).items():
        user = (entry or {}).get("username")
        if user:
            host = docker_auth.resolve_index_name(docker_auth.convert_to_hostname(key))
            out[_hub(host)] = (str(user), str(entry.get("password") or ""))
    return out
