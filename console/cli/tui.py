"""No command: the console itself (``llmctl``, ``llmctl --sandbox``); ``llmctl deploy --guided`` opens it
on the wizard."""

from __future__ import annotations

import argparse
from typing import Any

from console import wiring
from console.config import Settings


def run(_args: argparse.Namespace, settings: Settings) -> int:
    return open_console(settings)


def open_console(settings: Settings, wizard: dict[str, Any] | None = None) -> int:
    """Run the console until it quits; its exit code (the wizard sets one)."""
    from console.app import LlmctlApp

    with wiring.session(settings) as services:
        app = LlmctlApp(services, wizard_at_start=wizard)
        app.run()
    return app.return_code or 0
