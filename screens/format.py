"""How the screens show a rollout verdict (ages and sizes are in console.core.units)."""

from __future__ import annotations

from rich.text import Text

from console.core.model import RolloutVerdict


def verdict_text(verdict: RolloutVerdict | None, short: bool = False) -> Text:
    if verdict is None:
        return Text("-", style="dim")
    if verdict.failed:
        return Text("FAILED: progress deadline exceeded" if short else verdict.message, style="bold red")
    if verdict.done:
        return Text("rolled out" if short else verdict.message, style="green")
    message = verdict.message
    if short and "rollout to finish: " in message:
        message = message.split("rollout to finish: ", 1)[1].rstrip(".")
    elif short:
        message = "waiting for spec update"
    return Text(message, style="bold yellow")
