"""No command: the console itself (``llmctl``, ``llmctl --sandbox``); ``llmctl deploy --guided`` opens it
on the wizard."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.config import Settings

EXIT_CRASHED = 1


def run(_args: argparse.Namespace, settings: Settings) -> int:
    return open_console(settings)


def open_console(settings: Settings, wizard: dict[str, Any] | None = None) -> int:
    """Run the console until it quits; its exit code (the wizard sets one). An unexpected exception that stops it
    exits 1 with one line naming the error log — never 0, never a traceback over the terminal."""
    from console import wiring
    from console.app import LlmctlApp
    from screens.errorlog import one_line

    with wiring.session(settings) as services:
        app = LlmctlApp(services, wizard_at_start=wizard)
        try:
            app.run()
        except Exception as exc:  # the app failed outside its own handlers (starting, stopping)
            if app.crash is None:
                app.crash = exc
                path = app.error_log.write(exc, "the console stopped")
                app.crash_log = str(path) if path else None
    if app.crash is not None:
        where = f"details in {app.crash_log}" if app.crash_log else f"the log {app.error_log.path} could not be written"
        print(f"llmctl: the console stopped on an unexpected error ({one_line(app.crash)}); {where}", file=sys.stderr)
        return app.return_code or EXIT_CRASHED
    return app.return_code or 0
