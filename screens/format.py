"""Small text formatters shared by the screens (ages, verdicts)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from console.model import RolloutVerdict


def age(timestamp: str, now: datetime | None = None) -> str:
    """kubectl-style age of an RFC 3339 timestamp: 45s, 12m, 3h, 5d."""
    if not timestamp:
        return "-"
    try:
        then = datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return "-"
    seconds = max(int(((now or datetime.now(UTC)) - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


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
