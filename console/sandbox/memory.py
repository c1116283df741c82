"""Giving memory back: the process's resident size, and handing freed heap pages back to the system.

Python frees a deleted object's memory at once, but into its own pools and glibc's heap, which keep the
pages. After many large objects have left the watch history (the only place superseded and deleted
objects live on), ``malloc_trim`` returns the free pages to the kernel, so the resident size goes
back down instead of staying at the session's high-water mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import resource
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIM_AFTER_BYTES = 8 * 1024 * 1024  # JSON bytes dropped from the history before a trim is worth it
CHECK_SECONDS = 5.0


def rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _load_trim()


def release_memory() -> bool:
    """Return free heap pages to the system; False where the C library cannot (not glibc)."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class MemoryReleaser:
    """Trims the heap after the store has let go of enough objects (checked every few seconds)."""

    def __init__(self, released: Callable[[], int], threshold: int = TRIM_AFTER_BYTES,
                 interval: float = CHECK_SECONDS) -> None:
        self._released = released
        self._threshold = threshold
        self._interval = interval
        self._seen = released()
        self._task: asyncio.Task[None] | None = None

    def check(self) -> bool:
        """Trim now if enough was released since the last trim."""
        now = self._released()
        if now - self._seen < self._threshold:
            return False
        self._seen = now
        return release_memory()

    def start(self) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self._interval)
                self.check()

        if _TRIM is not None:
            self._task = asyncio.get_running_loop().create_task(loop(), name="sandbox-memory")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
