"""Pod logs from the ``pods/log`` API: the last N lines, following new ones, the previous container's
(what a crash-looping container printed before it died), only the lines of a recent time window
(``sinceSeconds``, kubectl's ``--since``), a search over the lines shown, and saving them to a file.

:func:`tail` is an async iterator of lines; errors are :class:`LogError` with the API server's own words
(``pods "x" not found``, ``container nope is not valid for pod x``, ``previous terminated container
"vllm" in pod "x" not found``). :func:`search` and :func:`next_since` are pure; :func:`save` writes a file
readable by its owner only.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from typing import Any

from console.kube.errors import KubeError
from console.kube.transport import KubeTransport

DEFAULT_LINES = 200
FOLLOW_IDLE = None  # a quiet container may print nothing for hours: a follow waits for ever
SINCE_STEPS: tuple[int | None, ...] = (None, 300, 900, 3600, 21600)  # all → 5m → 15m → 1h → 6h → all


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
               idle_timeout: float | None = FOLLOW_IDLE, since: int | None = None) -> AsyncIterator[str]:
    """The last ``lines`` lines of a container's log (None: all the API server keeps), then with ``follow``
    each new line as it is written, until the pod goes away or the caller stops iterating. ``previous``:
    the log of the container's previous run (a crash-looping container's last words); cannot be followed.
    ``container`` may be omitted for a pod with one container. ``since``: only the lines written in the last
    that many seconds (``sinceSeconds``; None: all). Raises :class:`LogError`."""
    if lines is not None and lines < 0:
        raise LogError(400, f"lines must be ≥ 0, not {lines}")
    if since is not None and since < 1:
        raise LogError(400, f"sinceSeconds: Invalid value: {since}: must be greater than 0")
    if previous and follow:
        raise LogError(400, "the previous container's log cannot be followed: it has ended")
    query: list[tuple[str, Any]] = []
    if container:
        query.append(("container", container))
    if lines is not None:
        query.append(("tailLines", lines))
    if since is not None:
        query.append(("sinceSeconds", since))
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
               lines: int | None = DEFAULT_LINES, previous: bool = False, since: int | None = None) -> list[str]:
    """The last ``lines`` lines at once (no follow)."""
    return [line async for line in tail(transport, namespace, pod, container, lines, previous=previous,
                                        since=since)]


def next_since(since: int | None) -> int | None:
    """The time window after ``since`` in :data:`SINCE_STEPS` (one not in it starts the cycle again)."""
    try:
        return SINCE_STEPS[(SINCE_STEPS.index(since) + 1) % len(SINCE_STEPS)]
    except ValueError:
        return SINCE_STEPS[0]


def since_label(since: int | None) -> str:
    """A time window as kubectl's ``--since`` takes it: ``5m``, ``1h``, ``90s``; ``all`` for None."""
    if since is None:
        return "all"
    for unit, seconds in (("h", 3600), ("m", 60)):
        if since % seconds == 0:
            return f"{since // seconds}{unit}"
    return f"{since}s"


_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def strip_escapes(line: str) -> str:
    """A log line without terminal escape sequences (the colours a container printed)."""
    return _ESCAPES.sub("", line)


def save(path: str, lines: Sequence[str], overwrite: bool = False) -> str:
    """Write ``lines`` (escape sequences taken out, one a line) to ``path`` (``~`` expanded), readable and
    writable by its owner only (0600, an existing file's mode too). Raises FileExistsError when the file is
    there and ``overwrite`` is false, OSError when it cannot be written. Returns the path written."""
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        raise IsADirectoryError(21, "Is a directory (give a file name)", path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.writelines(strip_escapes(line) + "\n" for line in lines)
    return path


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
