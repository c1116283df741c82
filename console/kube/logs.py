"""Pod logs from the ``pods/log`` API: the last N lines, following new ones, the previous container's
(what a crash-looping container printed before it died), and a search over the lines shown.

:func:`tail` is an async iterator of lines; errors are :class:`LogError` with the API server's own words
(``pods "x" not found``, ``container nope is not valid for pod x``, ``previous terminated container
"vllm" in pod "x" not found``). :func:`search` is pure.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from typing import Any

from console.kube.errors import KubeError
from console.kube.transport import KubeTransport

DEFAULT_LINES = 200
FOLLOW_IDLE = None  # a quiet container may print nothing for hours: a follow waits for ever


class LogError(Exception):
    """Logs cannot be read; ``code`` is the HTTP status (0: API server unreachable)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def log_path(namespace: str, pod: str) -> str:
    return f"/api/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/pods/{urllib.parse.quote(pod, safe='')}/log"


def _error(exc: KubeError, namespace: str, pod: str) -> LogError:
    if exc.unreachable:
        return LogError(0, exc.message)
    if exc.code == 403:
        return LogError(403, f'forbidden: cannot get pods/log in namespace "{namespace}" ({exc.message})')
    return LogError(exc.code, exc.message or f"{exc.code} {exc.reason}: cannot read the logs of {namespace}/{pod}")


async def tail(transport: KubeTransport, namespace: str, pod: str, container: str | None = None,
               lines: int | None = DEFAULT_LINES, follow: bool = False, previous: bool = False,
               idle_timeout: float | None = FOLLOW_IDLE) -> AsyncIterator[str]:
    """The last ``lines`` lines of a container's log (None: all the API server keeps), then with ``follow``
    each new line as it is written, until the pod goes away or the caller stops iterating. ``previous``:
    the log of the container's previous run (a crash-looping container's last words); cannot be followed.
    ``container`` may be omitted for a pod with one container. Raises :class:`LogError`."""
    if lines is not None and lines < 0:
        raise LogError(400, f"lines must be ≥ 0, not {lines}")
    if previous and follow:
        raise LogError(400, "the previous container's log cannot be followed: it has ended")
    query: list[tuple[str, Any]] = []
    if container:
        query.append(("container", container))
    if lines is not None:
        query.append(("tailLines", lines))
    if follow:
        query.append(("follow", "true"))
    if previous:
        query.append(("previous", "true"))
    try:
        async for line in transport.stream_text(log_path(namespace, pod), query,
                                                idle_timeout if follow else 30.0):
            yield line
    except KubeError as exc:
        raise _error(exc, namespace, pod) from None


async def read(transport: KubeTransport, namespace: str, pod: str, container: str | None = None,
               lines: int | None = DEFAULT_LINES, previous: bool = False) -> list[str]:
    """The last ``lines`` lines at once (no follow)."""
    return [line async for line in tail(transport, namespace, pod, container, lines, previous=previous)]


class SearchError(ValueError):
    """A search pattern that is not a valid regular expression (the message says why)."""


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """``/regex/`` (``/regex/i`` ignores case) or a plain, case-insensitive substring; None for an empty one."""
    if not pattern:
        return None
    match = re.fullmatch(r"/(.+)/(i?)", pattern, re.DOTALL)
    if match is None:
        return re.compile(re.escape(pattern), re.IGNORECASE)
    try:
        return re.compile(match.group(1), re.IGNORECASE if match.group(2) else 0)
    except re.error as exc:
        raise SearchError(f"bad regular expression {match.group(1)!r}: {exc}") from None


def search(lines: Sequence[str], pattern: str) -> list[int]:
    """Indices of the lines that match ``pattern`` (see :func:`compile_pattern`); [] for an empty pattern.
    Raises :class:`SearchError` for a bad regular expression."""
    compiled = compile_pattern(pattern)
    if compiled is None:
        return []
    return [i for i, line in enumerate(lines) if compiled.search(line)]
