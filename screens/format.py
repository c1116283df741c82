"""How the screens show a rollout verdict and an image in a narrow column (ages and sizes are in
console.core.units)."""

from __future__ import annotations

from textual.content import Content

from console.core.model import RolloutVerdict
from screens.widgets import tone

IMAGE_WIDTH = 43  # what the Revisions panel shows of an image at 150 columns: host with port, repository, tag


def shown_name(namespace: str, name: str, every_namespace: bool) -> str:
    """A row's name (and key): ``NAMESPACE/NAME`` while every namespace is shown — one name may be in several —
    else the name alone."""
    return f"{namespace}/{name}" if every_namespace and namespace else name


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


def image_ref(ref: str, width: int = IMAGE_WIDTH) -> str:
    """An image reference for a narrow column: whole if it fits; else without its registry host, then without
    leading path parts, then cut at the front — never at the tag, which is what tells revisions apart."""
    if len(ref) <= width:
        return ref
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        ref = rest
    while len(ref) > width and "/" in ref.split("@")[0].rsplit(":", 1)[0]:
        ref = ref.split("/", 1)[1]
    return ref if len(ref) <= width else "…" + ref[-(width - 1):]
