"""``llmctl config view [-o json]``: which kubeconfig file(s), context, cluster, user and kind of credential
the console and every command would use — resolved as kubectl resolves them (``--kubeconfig``, the files of
``$KUBECONFIG`` merged, ``~/.kube/config``, or the pod's service account) — never a token, key or password.

Exit codes: 0 resolved, 1 nothing usable (no kubeconfig, unknown context, ...; the reason on stderr).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from console.cli.common import EXIT_FAILED, EXIT_OK, OUTPUTS, STRUCTURED, dump, fail

if TYPE_CHECKING:

    from console.config import Settings
    pass


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    config = sub.add_parser("config", help="the kubeconfig, context, user and credential kind in use")
    verbs = config.add_subparsers(dest="config_command", metavar="VERB", required=True)
    view = verbs.add_parser("view", parents=[common],
                            help="which kubeconfig file(s), context, cluster, user and auth kind are in use "
                                 "(never a secret)")
    view.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    view.set_defaults(func=run_view)


def run_view(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from console import wiring
    from console.kube.errors import KubeError

    with wiring.session(settings) as services:
        try:
            source = asyncio.run(services.access.describe())
        except KubeError as exc:
            return fail("llmctl config view", exc.message)
    data = source.as_dict()
    data["sandbox"] = settings.sandbox
    print(dump(data, args.output) if args.output in STRUCTURED else format_view(data))
    return EXIT_OK if source.server else EXIT_FAILED


def auth_text(auth: dict[str, Any]) -> str:
    """One line for the credential kind, e.g. ``exec plugin: aws eks get-token --cluster-name prod``."""
    kind = auth.get("kind", "none")
    if kind == "exec":
        command = " ".join([auth.get("command", ""), *auth.get("args", [])])
        text = f"exec plugin: {command} ({auth.get('apiVersion', '')})"
        if auth.get("env"):
            text += f", env {', '.join(auth['env'])}"
    elif kind == "token":
        text = "bearer token (in the kubeconfig)"
    elif kind == "token-file":
        text = f"bearer token from file {auth.get('file', '')}"
    elif kind == "in-cluster":
        text = f"in-cluster service account token {auth.get('token_file', '')}"
    elif kind == "basic":
        text = f"basic auth as {auth.get('username', '')}"
    elif kind == "auth-provider":
        text = f"auth-provider {auth.get('provider', '')}"
    elif kind == "client-certificate":
        text = "client certificate"
    else:
        text = "none (anonymous)"
    if auth.get("client_certificate"):
        subject = f" ({auth['certificate_subject']})" if auth.get("certificate_subject") else ""
        cert = f"client certificate {auth['client_certificate']}{subject}"
        text = cert if kind == "client-certificate" else f"{text} + {cert}"
    return text


def format_view(data: dict[str, Any]) -> str:
    origin = data.get("defined_in") or {}

    def where(part: str) -> str:
        return f"  (from {origin[part]})" if len(data["kubeconfig"]) > 1 and origin.get(part) else ""

    files = data["kubeconfig"] or ["(none: the pod's service account)"]
    rows = [("kubeconfig", files[0]), *(("", f) for f in files[1:]),
            ("context", data["context"] + where("context")),
            ("cluster", f"{data['cluster']}  {data['server']}" + where("cluster")),
            ("namespace", data["namespace"]),
            ("user", (data["user"] or "(none)") + where("user")),
            ("auth", auth_text(data["auth"]))]
    tls = data.get("tls") or {}
    if tls.get("certificate_authority"):
        rows.append(("ca", tls["certificate_authority"]))
    for key, label in (("tls_server_name", "tls-server-name"), ("proxy_url", "proxy-url")):
        if tls.get(key):
            rows.append((label, tls[key]))
    if tls.get("insecure_skip_tls_verify"):
        rows.append(("tls", "insecure-skip-tls-verify: the server's certificate is NOT checked"))
    if data.get("sandbox"):
        rows.append(("", "[SANDBOX]"))
    return "\n".join(f"{k:<16}{v}".rstrip() for k, v in rows)
