"""What to build, checked before anything is sent to the engine: the one rule for ``llmctl build`` and the
Builds screen's form, so both refuse the same input with the same words."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from console.builds.lint import validate_tag
from console.builds.model import BuildRequest


class BadBuildRequest(ValueError):
    """Input that cannot be built; the message says what to change."""


def build_request(context: str, dockerfile: str = "Dockerfile", tags: Iterable[str] = (), target: str | None = None,
                  build_args: Iterable[str] = (), no_cache: bool = False) -> BuildRequest:
    """A :class:`BuildRequest` from what a person typed; :class:`BadBuildRequest` says what is wrong.

    ``dockerfile`` may be relative to the context (Docker's rule) or a path from here inside the context;
    ``build_args`` are ``KEY=VALUE`` items."""
    folder = Path(context or ".").expanduser()
    if not folder.is_dir():
        raise BadBuildRequest(f"build context {context!r} is not a folder")
    tags = tuple(t.strip() for t in tags if t.strip())
    for tag in tags:
        problem = validate_tag(tag)
        if problem:
            raise BadBuildRequest(f"bad tag: {problem}")
    parsed: list[tuple[str, str]] = []
    for item in build_args:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise BadBuildRequest(f"bad build arg {item!r}: expected KEY=VALUE")
        parsed.append((key.strip(), value))
    path = Path(dockerfile or "Dockerfile")
    if path.is_absolute() or (not (folder / path).is_file() and path.is_file()):
        try:  # a path given from here rather than from the context
            path = path.resolve().relative_to(folder.resolve())
        except ValueError:
            raise BadBuildRequest(f"Dockerfile {dockerfile} must be inside the context {context}") from None
    if not (folder / path).is_file():
        raise BadBuildRequest(f"no Dockerfile at {folder / path} (llmctl build --init {context} writes one)")
    return BuildRequest(str(folder.resolve()), path.as_posix(), tags, target or None, tuple(parsed), no_cache)
