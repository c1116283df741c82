"""The key bar at the bottom of every screen: Textual's Footer, with its keys made in their final style.

Textual's Footer builds one FooterKey per binding again whenever the bindings change (a screen shown, the focus
moved), and binds each key's ``compact`` to its own: every new key first takes the ``-compact`` class (its default)
and then drops it, and each of those two class changes restyles the key from the whole stylesheet (~3 ms). With
twenty keys that was ~0.1 s per focus change and a third of the first frame. Here each key gets the footer's
``compact`` value and its class before it is mounted, so it mounts in its final style; the footer's own
``compact`` never changes in llmctl, so there is nothing to keep bound.
"""

from __future__ import annotations

from collections.abc import Iterator

from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    def compose(self) -> Iterator[Widget]:  # type: ignore[override]
        for widget in super().compose():
            # (Textual's private binding record: another Textual without it leaves the key as Textual made it.)
            if isinstance(widget, FooterKey) and getattr(widget, "_reactive_connect", None):  # bound to compact
                widget._reactive_connect = None  # set once, here, instead (the palette key keeps its own)
                widget.set_reactive(FooterKey.compact, self.compact)
                widget.set_class(self.compact, "-compact", update=False)  # its watcher then has nothing to do
            yield widget
