"""How the screens show a rollout verdict (ages and sizes are in console.core.units)."""

from __future__ import annotations

from textual.content import Content

from console.core.model import RolloutVerdict
from screens.widgets import tone


def verdict_text(verdict: RolloutVerdict | None, short: bool = False) -> Content:
    if verdict is None:
        return Content.styled("-", tone.MUTED)
    if verdict.failed:
        return Content.styled("FAILED: progress deadline exceeded" if short else verdict.message,
                              tone.bold(tone.ERROR))
    if verdict.done:
        return Content.styled("rolled out" if short else verdict.message, tone.SUCCESS)
    message = verdict.message
    if short and "rollout to finish: " in message:
        message = message.split("rollout to finish: ", 1)[1].rstrip(".")
    elif short:
        message = "waiting for spec update"
    return Content.styled(message, tone.bold(tone.WARNING))
