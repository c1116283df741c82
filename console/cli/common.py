"""What every headless command shares: the cluster flags, settings from the flags, exit codes."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.config import Settings


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ROLLOUT_FAILED = 0, 1, 2, 3
OUTPUTS = ("table", "json", "yaml")  # -o of the commands that print a report
STRUCTURED = ("json", "yaml")
SETTINGS_FLAGS = ("kubeconfig", "context", "namespace", "readonly", "sandbox", "audit_log", "docker_host",
                  "prometheus_url", "alertmanager_url")


def global_flags(sub: bool) -> argparse.ArgumentParser:
    """Cluster flags, accepted before and after the command. A subcommand's copy has no defaults
    (SUPPRESS), so ``llmctl --sandbox status`` keeps the flag given before the command."""
    default = argparse.SUPPRESS if sub else None
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("cluster")
    g.add_argument("--kubeconfig", default=default,
                   help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    g.add_argument("--context", default=default, help="kubeconfig context (default: its current-context)")
    g.add_argument("-n", "--namespace", default=default, help="namespace (default: the context's namespace)")
    g.add_argument("--readonly", action="store_true", default=default, help="refuse every mutation")
    g.add_argument("--sandbox", action="store_true", default=default,
                   help="run against an embedded simulated GPU cluster (no real cluster needed)")
    g.add_argument("--docker-host", default=default, metavar="URL",
                   help="Docker Engine for image builds (default: $DOCKER_HOST, else the local socket)")
    g.add_argument("--prometheus", dest="prometheus_url", default=default, metavar="URL",
                   help="Prometheus for the GPU and Latency screens (default: $LLMCTL_PROMETHEUS_URL; on the "
                        "sandbox without it: read the simulation directly)")
    g.add_argument("--alertmanager", dest="alertmanager_url", default=default, metavar="URL",
                   help="Alertmanager (v2 API) for alerts with their silences and `llmctl silence` "
                        "(default: $LLMCTL_ALERTMANAGER_URL)")
    return p


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds ≥ 0 (``nan``, ``inf`` and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds ≥ 0, not {text!r}")
    return value


def positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text!r}")
    return value


def columns(header: Sequence[str], rows: Iterable[Sequence[object]], min_width: int = 0) -> str:
    """A table as kubectl prints one: left-aligned columns as wide as their widest cell, three spaces
    apart, the last column unpadded — so every value starts under its header, whatever its width.
    ``min_width``: no column (with its three spaces) narrower than that — kubectl's tabwriter uses 6."""
    table = [[str(c) for c in header], *([str(c) for c in row] for row in rows)]
    widths = [max(max(len(r[i]) for r in table), min_width - 3) for i in range(len(header))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "   " + r[-1]
                     if len(r) > 1 else r[0] for r in table)


def kubeconfig_problem(settings: Settings) -> str | None:
    """Why the kubeconfig (or context) of ``settings`` cannot be used, or None (also None with --sandbox,
    whose kubeconfig does not exist yet). Reads files only."""
    if settings.sandbox:
        return None
    from console.kube.errors import KubeError
    from console.kube.kubeconfig import select_kubeconfig

    try:
        select_kubeconfig(settings.kubeconfig, settings.context)
    except KubeError as exc:
        return exc.message
    return None


def settings_from(args: argparse.Namespace) -> Settings:
    """Flags > environment > config file > defaults (raises ConfigError)."""
    from console.config import load_settings

    return load_settings({k: getattr(args, k, None) for k in SETTINGS_FLAGS})


def fail(prog: str, message: str, code: int = EXIT_FAILED) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return code


def dump(doc: object, output: str, *, indent: int = 2, sort_keys: bool = False) -> str:
    """A report as ``-o json`` (indented by ``indent``) or ``-o yaml`` prints it; the same data either way, keys in
    their order or sorted. Non-ASCII text is written as it is in both. ``llmctl get`` prints API objects as
    kubectl does: ``indent=4, sort_keys=True``."""
    import json

    text = json.dumps(doc, indent=indent, sort_keys=sort_keys, ensure_ascii=False, default=str)
    if output != "yaml":
        return text
    import yaml

    return yaml.safe_dump(json.loads(text), sort_keys=sort_keys, allow_unicode=True,
                          default_flow_style=False).rstrip("\n")
