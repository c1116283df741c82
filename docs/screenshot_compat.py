"""Regenerate the README's Compat screenshot: ``.venv/bin/python docs/screenshot_compat.py``.

Uses the fixed report of the Compat screen's snapshot test (tests/ui/static_compat.py) — three node pools
(A10G, H100, a node without GFD labels) and images that hit each verdict — so every colour shows; the same
screen on the sandbox (``llmctl --sandbox``, then ``:compat``) reads its registry over HTTP instead.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.widgets import DataTable, Input  # noqa: E402

from tests.ui.helpers import wait_for  # noqa: E402
from tests.ui.static_compat import CANDIDATE, StaticCompat  # noqa: E402
from tests.ui.test_snapshots import make_app  # noqa: E402


async def main() -> None:
    app = make_app(compat=StaticCompat())
    async with app.run_test(size=(150, 36)) as pilot:
        await app.switch_mode("compat")
        screen = app.screen
        matrix = screen.query_one("#compat-matrix", DataTable)
        await wait_for(pilot, lambda: matrix.row_count == 3, what="matrix")
        box = screen.query_one("#candidate", Input)
        box.value = CANDIDATE
        box.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: matrix.row_count == 4, what="candidate")
        matrix.move_cursor(row=3, column=3)
        await pilot.pause(0.5)
        app.save_screenshot(str(ROOT / "docs" / "compat.svg"))


if __name__ == "__main__":
    asyncio.run(main())
