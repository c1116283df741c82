"""Keys one at a time: a key reaches the console only once the key before it has had its effect.

A terminal read can hold several keys (a paste, a fast typist, ``s`` then two Enters). Textual routes each key
to the widget focused *when the app reads it*, but a key's effects arrive later, as messages in other widgets'
queues: the Enter that submits a dialog pops its screen a few messages later, the Tab that moves focus does
so through the app's queue. Read back to back, the second Enter is routed to the dialog that is already
closing and pops the screen under it; the ``y`` after Tab goes to the field the Tab left.

:class:`KeyQueue` holds the keys that arrive while one is in flight and gives the app the next one only when
the console has settled: the app, the screen and the focused widget with its ancestors have each processed
what was queued, the screen and focus stayed the same over a round, and their queues are empty. So keys are
handled in the order they came, none dropped, each where the focus is after the keys before it. A key whose
effects do not settle (a busy widget) is let go after :data:`SETTLE_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from textual import events, messages
from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump

SETTLE_TIMEOUT = 2.0  # seconds a key may take to settle before the next one goes anyway (a loaded 2-core
# machine took over 0.5 s to settle an Enter that moves the focus while cluster events were being drawn)
MIN_ROUNDS = 2  # the key's first hop, then one more for what it started (a worker that pushes a dialog)
FAST_ROUNDS = 12  # a key bubbles one widget per round; past this, what is left waits on a repaint: poll gently
POLL = 0.01  # seconds between those later rounds

InputEvent = events.Key | events.Paste
# Messages that only repaint or resize: a screen redrawn by a burst of cluster events is busy with these, and a key
# need not wait for them.
CHORES: tuple[type[Message], ...] = (messages.Update, messages.Layout, messages.UpdateScroll, messages.Prompt,
                                     events.Idle, events.Resize)


class KeyQueue:
    """Keys and pastes for one app, delivered one at a time (see the module docstring)."""

    def __init__(self, app: App[Any], chores: tuple[type[Message], ...] = ()) -> None:
        self.app = app
        self.chores = chores  # the app's own messages that only redraw (e.g. "the cluster changed")
        self._held: deque[InputEvent] = deque()
        self._busy = False  # a key is in flight: dispatched, or posted again for dispatch
        self._released: InputEvent | None = None  # the held key posted again, let through when it comes
        self._generation = 0  # which key the settle rounds belong to (stale round trips are ignored)
        self._pending = 0  # round trips of this round still to come back
        self._rounds = 0
        self._shape: tuple[int, ...] = ()
        self._timeout: asyncio.TimerHandle | None = None

    @staticmethod
    def wants(event: events.Event) -> bool:
        """Is ``event`` input that this queue orders (a key or paste the app has not routed yet)?"""
        return isinstance(event, events.Key | events.Paste) and not event.is_forwarded

    def admit(self, event: InputEvent) -> bool:
        """True: let the app route ``event`` now. False: it was queued behind the key in flight."""
        if event is self._released:
            self._released = None
            return True
        if self._busy or self._held:
            self._held.append(event)
            return False
        self._busy = True
        return True

    def routed(self) -> None:
        """The app has routed the key it was let through: wait for its effects to settle."""
        self._generation += 1
        self._rounds = 0
        self._shape = self._current_shape()
        if self._timeout is not None:
            self._timeout.cancel()
        self._timeout = asyncio.get_running_loop().call_later(SETTLE_TIMEOUT, self._settled, self._generation)
        self._round(self._generation)

    @property
    def waiting(self) -> int:
        """Keys held behind the one in flight."""
        return len(self._held)

    # ---- settling -------------------------------------------------------------------------------------------------
    def _pumps(self) -> list[MessagePump]:
        """What a key's effects go through: the app, the screen, and the focused widget up to the screen."""
        app = self.app
        pumps: list[MessagePump] = [app]
        try:
            screen = app.screen
        except Exception:  # no screen while the app starts or stops
            return pumps
        pumps.append(screen)
        node = screen.focused
        while node is not None and node is not screen:
            pumps.append(node)
            node = node.parent  # type: ignore[assignment]
        return pumps

    def _current_shape(self) -> tuple[int, ...]:
        app = self.app
        try:
            screen = app.screen
        except Exception:
            return ()
        return id(screen), len(app.screen_stack), id(screen.focused)

    def _round(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._pending = 0
        for pump in self._pumps():
            if pump.call_later(self._round_trip, generation):
                self._pending += 1
        if not self._pending:
            self._settled(generation)

    def _round_trip(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._pending -= 1
        if self._pending > 0:
            return
        self._rounds += 1
        shape = self._current_shape()
        quiet = shape == self._shape and all(self._idle(pump) for pump in self._pumps())
        if quiet and self._rounds >= MIN_ROUNDS:
            self._settled(generation)
            return
        self._shape = shape
        if self._rounds < FAST_ROUNDS:
            self._round(generation)
        else:
            asyncio.get_running_loop().call_later(POLL, self._round, generation)

    def _idle(self, pump: MessagePump) -> bool:
        """Nothing that could move the focus or change the screens is waiting: no message but repaint chores (nor
        one taken off the queue to see if it merges with the one being handled), no ``call_next`` callback (a
        dialog's answer reaches its caller so), no ``call_after_refresh`` callback of a screen (a focus moved after
        a screen switch). Textual keeps these private: read defensively, and count what cannot be read as busy."""
        if getattr(pump, "_next_callbacks", None) or getattr(pump, "_callbacks", None):
            return False
        pending = getattr(pump, "_pending_message", None)
        if pending is not None and not self._chore(pending):
            return False
        queued = getattr(pump._message_queue, "values", None)
        if queued is None:
            return not pump.message_queue_size
        return all(self._chore(message) for message in list(queued))

    def _chore(self, message: object) -> bool:
        """A message that only repaints (or is this queue's own round trip): it never moves focus or screens."""
        if isinstance(message, CHORES + self.chores):
            return True
        callback = getattr(message, "callback", None)
        return isinstance(message, events.Callback) and getattr(callback, "func", None) == self._round_trip

    def _settled(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._generation += 1  # round trips still under way belong to nobody now
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        while self._held:
            event = self._held.popleft()
            self._released = event
            if self.app.post_message(event):
                return
            self._released = None  # the app is closing: the rest of the keys go nowhere
        self._busy = False
