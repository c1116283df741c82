"""``llmctl completion bash|zsh|fish``: the shell's completion script, made by argcomplete (the maintained
argparse completer). At TAB the shell runs llmctl with ``_ARGCOMPLETE`` set; :func:`complete` then answers from
the parser — commands, flags, choices — and, where the word is a cluster's, from the cluster the other flags
name: contexts from the kubeconfig, namespaces, resource types from discovery and object names, each within
:data:`CLUSTER_WAIT` seconds (a slow or unreachable cluster gives no suggestions, never a hang).

Install: ``eval "$(llmctl completion bash)"`` in ~/.bashrc, ``source <(llmctl completion zsh)`` in ~/.zshrc,
``llmctl completion fish | source`` in ~/.config/fish/config.fish.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from typing import Any

SHELLS = ("bash", "zsh", "fish")
INSTALL = ('install: eval "$(llmctl completion bash)" in ~/.bashrc; source <(llmctl completion zsh) in ~/.zshrc; '
           "llmctl completion fish | source in ~/.config/fish/config.fish")
CLUSTER_WAIT = 2.0  # seconds a completion may wait for the API server


def register(sub: Any, _common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("completion", help="print the shell completion script (bash, zsh or fish)",
                       description=INSTALL)
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=run, without_settings=True)


def run(args: argparse.Namespace, _parser: argparse.ArgumentParser) -> int:
    from argcomplete import shellcode

    print(shellcode(["llmctl"], shell=args.shell), end="")
    return 0


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit, when llmctl was run for one (else return at once)."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    _attach(parser)
    argcomplete.autocomplete(parser, always_complete_options=False)


# ---- completers ----------------------------------------------------------------------------------------
def _attach(parser: argparse.ArgumentParser) -> None:
    """Give the cluster-valued arguments their completers, in every sub-parser."""
    completers: dict[str, Callable[..., Iterable[str]]] = {"context": contexts, "namespace": namespaces,
                                                            "kind": kinds, "name": names}
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:  # argparse has no public walk over its actions
            if isinstance(action, argparse._SubParsersAction):
                stack += list(dict.fromkeys(action.choices.values()))
            elif action.dest in completers:
                action.completer = completers[action.dest]  # type: ignore[attr-defined]


def _quietly(fn: Callable[[], Iterable[str]]) -> list[str]:
    """What ``fn`` finds, or nothing: a completion never prints an error or a traceback into the prompt."""
    try:
        return list(fn())
    except Exception:  # any failure (no kubeconfig, unreachable, forbidden) means no suggestions
        return []


def _cluster(parsed: argparse.Namespace, ask: Callable[[Any, Any], Any]) -> list[str]:
    """Run ``ask(transport, target)`` against the cluster the parsed flags name, within CLUSTER_WAIT."""
    if getattr(parsed, "sandbox", False):
        return []  # completing must not start a simulated cluster

    async def go() -> list[str]:
        from console.kube.transport import connect_target

        target, transport = await connect_target(getattr(parsed, "kubeconfig", None), getattr(parsed, "context", None))
        try:
            return list(await asyncio.wait_for(ask(transport, target), CLUSTER_WAIT))
        finally:
            await transport.close()

    import asyncio

    return _quietly(lambda: asyncio.run(go()))


def contexts(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    from console.kube.kubeconfig import context_names

    return [n for n in _quietly(lambda: context_names(getattr(parsed_args, "kubeconfig", None))[0])
            if n.startswith(prefix)]


def namespaces(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    async def ask(transport: Any, _target: Any) -> list[str]:
        found = await transport.list("/api/v1/namespaces")
        return [str((n.get("metadata") or {}).get("name", "")) for n in found]

    return [n for n in _cluster(parsed_args, ask) if n.startswith(prefix)]


def kinds(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    from console.kube.discovery import discover

    async def ask(transport: Any, _target: Any) -> list[str]:
        return (await discover(transport)).words()

    head, comma, last = prefix.rpartition(",")  # `get deploy,sv<TAB>`
    return [f"{head}{comma}{w}" for w in _cluster(parsed_args, ask) if w.startswith(last)]


def names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    kind = str(getattr(parsed_args, "kind", "") or "")
    if not kind or "," in kind or "/" in kind:
        return []
    from console.kube.discovery import discover

    async def ask(transport: Any, target: Any) -> list[str]:
        resource = (await discover(transport)).find(kind)
        ns = getattr(parsed_args, "namespace", None) or target.namespace or "default"
        found = await transport.list(resource.collection(ns if resource.namespaced else None))
        return [str((o.get("metadata") or {}).get("name", "")) for o in found]

    return [n for n in _cluster(parsed_args, ask) if n.startswith(prefix)]
