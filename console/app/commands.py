"""One registry of the console's commands, for ``:`` command mode, the command palette (ctrl+p) and the help.

A command has a name, k9s-style aliases, a line of help, and what it does; ``:`` takes any alias (and an
argument where the command has one, e.g. ``:incident claude-inference``), the palette searches names and
help, and ``?`` lists them — all from the same table, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from console.app import LlmctlApp


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    help: str
    run: Callable[[LlmctlApp, str | None], None]  # (app, argument or None)
    argument: str = ""  # shown in the help, e.g. "[DEPLOYMENT]"

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _view(mode: str, focus: str | None = None) -> Callable[[LlmctlApp, str | None], None]:
    def go(app: LlmctlApp, _arg: str | None) -> None:
        app.go_to(mode, focus)
    return go


def split_ref(app: LlmctlApp, arg: str | None) -> tuple[str | None, str | None] | None:
    """(namespace, name) of a ``NAME`` or ``NAMESPACE/NAME`` argument (the namespace matters when every namespace
    is shown, where one name may be in several); None, said, when the namespace is not a namespace's name."""
    from console.actions.validate import ActionError, check_namespace

    if not arg:
        return None, None
    namespace, slash, name = arg.partition("/") if "/" in arg else ("", "", arg)
    if slash:
        try:
            check_namespace(namespace)
        except ActionError as exc:
            app.notify(exc.message, severity="error")
            return None
    return namespace or None, name


def _loadtest(app: LlmctlApp, arg: str | None) -> None:
    from screens.loadtest import LoadTestScreen

    ref = split_ref(app, arg)
    if ref is None:
        return
    namespace, name = ref
    row = app.deployment_named(name, namespace, "loading") if name else \
        next((d for d in app.snapshot.deployments if d.gpus_per_replica), None)
    name = name or (row.name if row else None)
    if name is None:
        app.notify("no GPU Deployment here to load: :loadtest [NAMESPACE/]DEPLOYMENT", severity="warning")
        return
    app.push_screen(LoadTestScreen(name, namespace=namespace or (row.namespace if row else None)))


def _incident(app: LlmctlApp, arg: str | None) -> None:
    ref = split_ref(app, arg)
    if ref is not None:
        app.show_incident(ref[1], ref[0])


def _probe(app: LlmctlApp, arg: str | None) -> None:
    """``:probe SERVICE`` in the namespace watched; without one, what ``P`` would probe on this screen, else the
    Service in front of the first GPU Deployment."""
    from screens import probe

    if arg:
        ref = split_ref(app, arg)  # NAMESPACE/SERVICE[:PORT] (every namespace shown: say whose)
        if ref is not None:
            probe.start(app, ref[0] or app.default_namespace(), service=ref[1])
        return
    screen = app.screen
    if screen.check_action("probe", ()) and hasattr(screen, "action_probe"):
        screen.action_probe()
        return
    row = next((d for d in app.snapshot.deployments if d.gpus_per_replica), None)
    if row is None:
        app.notify("no GPU Deployment here to probe: :probe SERVICE", severity="warning")
        return
    probe.probe_deployment(app, row)


COMMANDS: tuple[Command, ...] = (
    Command("deploy", ("deployments", "dp"), "Deployments (dashboard)", _view("dashboard", "deployments")),
    Command("nodes", ("no", "node"), "GPU nodes (dashboard)", _view("dashboard", "nodes")),
    Command("pods", ("po", "pod"), "every pod of the namespace", _view("pods")),
    Command("hpa", ("horizontalpodautoscalers",), "HorizontalPodAutoscalers", _view("hpa")),
    Command("builds", ("build", "images"), "image builds and local images", _view("builds")),
    Command("gpu", ("gpus",), "GPU memory and utilisation (DCGM)", _view("gpu")),
    Command("latency", ("lat",), "serving latency, TTFT, QPS, queue, KV-cache", _view("latency")),
    Command("loadtest", ("lt",), "load test a Deployment's Service: QPS, p50/p99, TTFT, replicas",
            _loadtest, "[[NAMESPACE/]DEPLOYMENT]"),
    Command("probe", (), "ask a model Service one question: answer, TTFT, tokens/s, the pod that answered",
            _probe, "[[NAMESPACE/]SERVICE[:PORT]]"),
    Command("alerts", ("alert",), "alerts from every source", _view("alerts")),
    Command("silences", (), "Alertmanager silences", _view("alerts", "silences")),
    Command("compat", ("compatibility", "drivers"), "driver compatibility: images × node pools", _view("compat")),
    Command("deploy-new", ("wizard",), "guided deployment of a new model (wizard)",
            lambda app, _arg: app.open_wizard()),
    Command("incident", ("inc", "timeline"), "incident timeline of the namespace or one Deployment",
            _incident, "[[NAMESPACE/]DEPLOYMENT]"),
    Command("ctx", ("context", "contexts"), "switch kubeconfig context (no name: pick from the kubeconfig)",
            lambda app, arg: app.switch_context(arg), "[CONTEXT]"),
    Command("ns", ("namespace",), "switch namespace (all: every namespace; no name: pick)",
            lambda app, arg: app.switch_namespace(arg), "[NAMESPACE|all]"),
    Command("help", ("?",), "keyboard help", lambda app, _arg: app.action_help()),
    Command("quit", ("q", "q!"), "quit llmctl", lambda app, _arg: app.exit()),
)
BY_WORD = {word: command for command in COMMANDS for word in command.words}


def find(line: str) -> tuple[Command | None, str, str | None]:
    """The command a ``:`` line names, the word typed, and its argument (None if none)."""
    words = line.split()
    if not words:
        return None, "", None
    word = words[0].lower()
    return BY_WORD.get(word), word, (words[1] if len(words) > 1 else None)


# What a command's argument is, for completion: a key of the words the app gathers (see ``complete``).
ARGUMENT_WORDS = {"ns": "namespaces", "ctx": "contexts", "incident": "deployments"}


def complete(line: str, words: dict[str, list[str]]) -> list[str]:
    """Whole ``:`` lines that complete ``line``: command names and aliases, then resource types (``kinds``); after
    a command, its argument (namespaces, contexts, Deployments). Case-insensitive; the shortest first."""
    text = line.lstrip(":").lower()
    head, space, rest = text.partition(" ")
    if not space:
        pool = [*BY_WORD, *(w for w in words.get("kinds", []) if w not in BY_WORD)]
        found = [w for w in dict.fromkeys(pool) if w.startswith(head)]
        return sorted(found, key=lambda w: (len(w), w))
    command = BY_WORD.get(head)
    key = ARGUMENT_WORDS.get(command.name, "") if command else ""
    pool = (["all"] if key == "namespaces" else []) + words.get(key, [])
    return [f"{head} {w}" for w in dict.fromkeys(pool) if w.lower().startswith(rest)]


def unknown_message(word: str) -> str:
    names = ", ".join(f":{c.name}" + (f" {c.argument}" if c.argument else "") for c in COMMANDS)
    return f"unknown command :{word} (try {names}, or any resource type: :rs, :svc, :crd …)"


def help_rows() -> list[tuple[str, str]]:
    """(``:name``, what it does — and its aliases) for the keyboard help."""
    rows = []
    for c in COMMANDS:
        also = f" (also {', '.join(f':{a}' for a in c.aliases)})" if c.aliases else ""
        rows.append((f":{c.name}", f"{c.help}{' ' + c.argument if c.argument else ''}{also}"))
    rows.append((":KIND", "any resource type the API serves: :rs :svc :pvc :ev :cm :ds :sts :job :crd, plural and "
                          "short names, NAME.GROUP (tab completes in the prompt)"))
    return rows


class LlmctlCommands(Provider):
    """llmctl's own commands in Textual's command palette (ctrl+p)."""

    def _entries(self) -> list[tuple[str, Command]]:
        return [(f"{c.name} — {c.help}", c) for c in COMMANDS]

    async def discover(self) -> Hits:
        for text, command in self._entries():
            yield DiscoveryHit(text, self._runner(command), help=", ".join(f":{w}" for w in command.words))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, command in self._entries():
            score = max(matcher.match(text), *(matcher.match(w) for w in command.words))
            if score > 0:
                yield Hit(score, matcher.highlight(text), self._runner(command),
                          help=", ".join(f":{w}" for w in command.words))

    def _runner(self, command: Command) -> Callable[[], None]:
        from console.app import LlmctlApp

        app = self.app
        assert isinstance(app, LlmctlApp)
        return lambda: command.run(app, None)
