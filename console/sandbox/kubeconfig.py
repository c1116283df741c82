"""The kubeconfig the sandbox writes so kubectl, k9s and the console reach it like any cluster.

Note: kubectl sends the tokens only to an ``https://`` server (see api_tls); against ``http://`` it
is anonymous. The python client sends them either way.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from .auth import ADMIN, DEVELOPER, OPERATOR, USERS, VIEWER, Authenticator

CLUSTER = "sandbox"
NAMESPACE = "llm"


def kubeconfig_dict(api_url: str, auth: Authenticator, ca_pem: bytes | None = None) -> dict[str, Any]:
    """The kubeconfig as data: one cluster, an admin context (current), a read-only viewer context, an
    operator context bound to namespace ``llm`` and a developer context (views every namespace, edits ``llm``).

    ``ca_pem``: the certificate to trust when ``api_url`` is https (the sandbox's self-signed one).
    """
    cluster: dict[str, Any] = {"server": api_url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    contexts, users = [], []
    for user in USERS:
        contexts.append({"name": user, "context": {"cluster": CLUSTER, "user": user, "namespace": NAMESPACE}})
        users.append({"name": user, "user": {"token": auth.token_for(user)}})
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": CLUSTER, "cluster": cluster}],
        "contexts": contexts,
        "current-context": ADMIN,
        "users": users,
    }


def write_kubeconfig(path: str | os.PathLike[str], api_url: str, auth: Authenticator,
                     ca_pem: bytes | None = None) -> Path:
    """Write the kubeconfig with mode 0600 (it holds bearer tokens) and return its path.

    The file is created with 0600 before any secret is written, so no other user can ever read it.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig_dict(api_url, auth, ca_pem), sort_keys=False)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT: fix it
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return target


def read_credentials(path: str | os.PathLike[str]) -> Authenticator | None:
    """The Authenticator of an earlier sandbox's kubeconfig at ``path``, or None if there is none."""
    try:
        doc = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        # Users without a token (a client certificate or an exec plugin added by hand) are not the sandbox's.
        tokens = {u["name"]: (u.get("user") or {}).get("token") for u in doc.get("users") or []}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None
    if not (tokens.get(ADMIN) and tokens.get(VIEWER)):
        return None
    return Authenticator.create(tokens[ADMIN], tokens[VIEWER], tokens.get(OPERATOR), tokens.get(DEVELOPER))
