"""``llmctl sandbox fault KIND [TARGET] --kubeconfig PATH``: ask a running sandbox for a fault.

Sent to the sandbox's own ``/sandbox/v1/faults`` endpoint with the kubeconfig's bearer token
(which is never printed).
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import urllib.error
import urllib.request

import yaml


def kubeconfig_credentials(kubeconfig: str, context: str | None) -> tuple[str, str, ssl.SSLContext | None]:
    """Server URL, bearer token and TLS context of a kubeconfig context."""
    with open(kubeconfig) as fh:
        doc = yaml.safe_load(fh) or {}
    name = context or doc.get("current-context")
    ctx = next((c["context"] for c in doc.get("contexts") or [] if c.get("name") == name), None)
    if ctx is None:
        raise ValueError(f"context {name!r} not in {kubeconfig}")
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
    token = next(u["user"].get("token", "") for u in doc["users"] if u["name"] == ctx["user"])
    tls = None
    if cluster["server"].startswith("https://"):
        if cluster.get("certificate-authority-data"):
            tls = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        else:
            tls = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
    return cluster["server"], token, tls


def send_fault(kind: str, target: str | None, kubeconfig: str, context: str | None = None) -> int:
    try:
        server, token, tls = kubeconfig_credentials(kubeconfig, context)
    except (OSError, ValueError, KeyError, StopIteration, yaml.YAMLError) as exc:
        print(f"llmctl sandbox fault: cannot read kubeconfig {kubeconfig}: {exc}", file=sys.stderr)
        return 2
    url = f"{server}/sandbox/v1/faults"
    if kind == "clear":
        req = urllib.request.Request(url, method="DELETE")
    else:
        body = json.dumps({"kind": kind, "target": target}).encode()
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=tls) as resp:
            print(json.dumps(json.loads(resp.read())))
            return 0
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", exc.reason)
        except ValueError:
            message = exc.reason
        print(f"llmctl sandbox fault: {message}", file=sys.stderr)
        return 2 if exc.code == 400 else 1
    except OSError as exc:
        print(f"llmctl sandbox fault: cannot reach the sandbox at {server}: {exc}", file=sys.stderr)
        return 1
