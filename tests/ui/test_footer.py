"""KeyFooter (every screen's key bar) shows what Textual's Footer shows, and a focus change — which makes the footer
build its keys again — restyles none of the command keys after its mount; Textual's Footer restyles each new key
twice (its ``-compact`` class taken, then dropped: #16, ~0.1 s per focus change with twenty keys)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Footer, Input
from textual.widgets._footer import FooterKey

from screens.widgets.footer import KeyFooter
from tests.ui.helpers import wait_for


class Keys(App[None]):
    BINDINGS = [Binding("s", "noop('s')", "Scale"), Binding("r", "noop('r')", "Restart"),
                Binding("u", "noop('u')", "Undo")]

    def __init__(self, footer: type[Footer]) -> None:
        super().__init__()
        self.footer = footer

    def compose(self) -> ComposeResult:
        yield Button("one")
        yield Input()
        yield self.footer()

    def action_noop(self, _key: str) -> None:
        pass


def keys_shown(app: App[None]) -> list[tuple[str, str, bool]]:
    return [(str(key.render()), " ".join(sorted(key.classes)), key.disabled) for key in app.query(FooterKey)]


async def test_the_key_bar_shows_what_textuals_footer_shows_without_restyling_its_keys() -> None:
    shown: dict[str, list[tuple[str, str, bool]]] = {}
    restyled: dict[str, Counter[str]] = {}
    for footer in (Footer, KeyFooter):
        app = Keys(footer)
        counts = restyled[footer.__name__] = Counter()
        async with app.run_test(size=(100, 10)) as pilot:
            await pilot.pause()
            shown[footer.__name__] = keys_shown(app)
            original = app.update_styles

            def counting(node: Any, animate: bool = True, _counts: Counter[str] = counts,
                         _original: Any = original) -> None:
                if isinstance(node, FooterKey):
                    _counts[node.key] += 1
                _original(node, animate=animate)
            app.update_styles = counting  # type: ignore[method-assign]
            before = list(app.query(FooterKey))
            await pilot.press("tab")  # the focus moves to the Input: the footer builds its keys again
            await wait_for(pilot, lambda _app=app, _before=before: bool(_app.query(FooterKey)) and list(
                _app.query(FooterKey)) != _before, what="the keys built again")
    assert shown["KeyFooter"] == shown["Footer"]
    assert [text.split()[-1] for text, _, _ in shown["KeyFooter"]] == ["Scale", "Restart", "Undo", "palette"]
    assert restyled["Footer"] and min(restyled["Footer"].values()) >= 2, "Textual's Footer: each key twice"
    restyled["KeyFooter"].pop("ctrl+p", None)  # the palette key is Footer's own, as before (once per recompose)
    assert not restyled["KeyFooter"], restyled["KeyFooter"]
