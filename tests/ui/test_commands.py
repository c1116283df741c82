"""One command registry behind `:`, the command palette (ctrl+p) and the help."""

from __future__ import annotations

from console.app import commands
from screens.alerts import AlertsScreen
from screens.gpu import GpuScreen
from screens.resources import PodsScreen
from tests.ui.helpers import wait_for
from tests.ui.test_snapshots import SIZE, make_app


def test_every_alias_names_one_command() -> None:
    words = [w for c in commands.COMMANDS for w in c.words]
    assert len(words) == len(set(words)), "an alias may not name two commands"
    assert commands.find(":pods")[0] is None, "the prompt strips the colon before asking"
    command, word, argument = commands.find("incident claude-inference")
    assert word == "incident"
    assert command is not None and command.name == "incident" and argument == "claude-inference"
    message = commands.unknown_message("frobnicate")
    assert "frobnicate" in message and all(f":{c.name}" in message for c in commands.COMMANDS)


async def test_colon_aliases_and_the_palette_reach_the_same_screens() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"po", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PodsScreen), what=":po")
        await pilot.press("colon", *"nope", "enter")
        await wait_for(pilot, lambda: any("unknown command :nope" in n.message for n in app._notifications),
                       what="unknown command said")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"gpu")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GpuScreen), what="palette → gpu")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"alerts from")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="palette → alerts by description")


def test_completion_of_commands_kinds_and_arguments() -> None:
    words = {"kinds": ["replicasets", "rs", "services", "svc", "pods"], "namespaces": ["llm", "kube-system"],
             "contexts": ["sandbox-admin", "sandbox-viewer"], "deployments": ["claude-inference"]}
    assert commands.complete("rep", words) == ["replicasets"]
    assert {"svc", "silences", "services"} <= set(commands.complete("s", words))
    assert commands.complete("po", words)[0] == "po", "shortest first: the alias typed so far is a whole word"
    assert commands.complete("ns k", words) == ["ns kube-system"]
    assert commands.complete("ns ", words) == ["ns all", "ns llm", "ns kube-system"]
    assert commands.complete("ctx sandbox-v", words) == ["ctx sandbox-viewer"]
    assert commands.complete("incident cl", words) == ["incident claude-inference"]
    assert commands.complete("gpu x", words) == [], "a command without an argument completes none"
