"""``llmctl``: the command line. Each command group is a module here that adds its sub-parsers and sets
``func`` on them; without a command, the console opens.

Exit codes: 0 success, 1 refused or failed, 2 usage or validation error, 3 rollout failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from console import __version__
from console.cli import (
    actions,
    alerts,
    build,
    check,
    common,
    completion,
    config,
    deploy,
    get,
    incident,
    loadtest,
    probe,
    sandbox,
    silence,
    status,
    top,
    tui,
)

# Commands that read the cluster: a kubeconfig that cannot be used is a usage error, said before anything starts.
# (deploy checks its values file first, then the kubeconfig: see cli/deploy.py)
CLUSTER_COMMANDS = frozenset({"get", "status", "scale", "rollout", "hpa", "check", "incident", "alerts",
                              "probe", "loadtest"})
GROUPS = (status, get, sandbox, actions, build, top, alerts, deploy, check, incident, silence, config, completion,
          probe, loadtest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmctl", parents=[common.global_flags(sub=False)],
        description="Terminal operations console for LLM inference on Kubernetes GPU clusters.",
        epilog="Run without a command to open the console. `llmctl --sandbox` tries it on a simulated cluster.",
    )
    parser.add_argument("--version", action="version", version=f"llmctl {__version__}")
    parser.set_defaults(func=tui.run)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    shared = common.global_flags(sub=True)
    for group in GROUPS:
        group.register(sub, shared)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    completion.complete(parser)  # the shell asked for completions: answers and exits
    args = parser.parse_args(argv)
    if getattr(args, "without_settings", False):  # `llmctl sandbox`: its own flags only
        return int(args.func(args, parser))
    from console.config import ConfigError

    try:
        settings = common.settings_from(args)
    except ConfigError as exc:
        print(f"llmctl: {exc}", file=sys.stderr)
        return common.EXIT_USAGE
    problem = args.validate(args) if getattr(args, "validate", None) else None  # the command's own input first
    if problem is None and args.command in CLUSTER_COMMANDS:
        problem = common.kubeconfig_problem(settings)  # then the kubeconfig: no connection attempt, no wait
    if problem:
        print(f"llmctl: {problem}", file=sys.stderr)
        return common.EXIT_USAGE
    return int(args.func(args, settings))
