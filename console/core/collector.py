"""Python's cyclic garbage collector held off while a burst of acyclic objects is made and mostly dropped again
(decoded JSON, rendered text).

With the collector on, the youngest generation is scanned every 700 new container objects and the oldest again
each time the heap has grown by a quarter. A page of 500 pods decodes to ~100,000 dicts, lists and strings, so a
LIST of 20,000 pods spent about as much CPU in the collector as in ``json.loads`` — on objects most of which are
dropped once their page is handled, and none of which is in a reference cycle (so the collector could not have
freed any of them). Reference counting frees everything as usual throughout.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_held = 0  # pauses under way (in any thread)
_resume = False  # whether the collector was on when the first of them began


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off until the last pause under way ends (pauses nest and overlap across threads and
    tasks); left off if the program had turned it off itself."""
    global _held, _resume
    with _lock:
        if _held == 0:
            _resume = gc.isenabled()
            gc.disable()
        _held += 1
    try:
        yield
    finally:
        with _lock:
            _held -= 1
            if _held == 0 and _resume:
                gc.enable()
