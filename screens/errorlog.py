"""The console's error log: every unexpected exception, with its traceback, in ``$XDG_STATE_HOME/llmctl/llmctl.log``.

An exception nobody expected (a bug) must not vanish — a worker started with ``exit_on_error=False`` swallows
its errors — nor print a traceback over the terminal. The console writes it here and says so in one line.
Tracebacks are written without local variables, and scrubbed like audit entries (plus ``key=value`` pairs
whose key names a credential), so no token or password reaches the file; the file is its owner's only (0600).
"""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path

from textual.worker import Worker, WorkerState
from textual.worker_manager import WorkerManager

from console.audit import REDACTED, rfc3339_now, scrub
from console.config import state_dir

LOG_NAME = "llmctl.log"
MAX_BYTES = 1_000_000  # past this the log starts again (the previous one is kept as llmctl.log.1)
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w-]*(?:token|password|passwd|secret|authorization|credential|private[-_]?key|client[-_]?key)[\w-]*)"
    r"(['\"]?\s*[:=]\s*['\"]?)([^\s'\",;)}\]]+)")


def default_path() -> Path:
    return state_dir() / LOG_NAME


def scrub_text(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``<redacted>``."""
    return _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", scrub(text))


def one_line(error: BaseException) -> str:
    """``ValueError: bad thing`` (scrubbed, first line only, at most 200 characters)."""
    message = str(error).strip()
    text = scrub_text(f"{type(error).__name__}: {message}".splitlines()[0] if message else type(error).__name__)
    return text if len(text) <= 200 else text[:199] + "…"


class ErrorLog:
    """Append-only log of the console's unexpected errors."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_path()

    def write(self, error: BaseException, where: str) -> Path | None:
        """Append ``error`` with its traceback; the file's path, or None if it could not be written."""
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        text = f"{rfc3339_now()} {where}: {one_line(error)}\n{scrub_text(''.join(lines))}\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                if self.path.stat().st_size > MAX_BYTES:
                    self.path.replace(self.path.with_name(self.path.name + ".1"))
            except FileNotFoundError:
                pass
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, text.encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError:
            return None
        return self.path


class ReportingWorkers(WorkerManager):
    """Textual's worker manager, except that a worker started with ``exit_on_error=False`` which fails on an
    exception its code did not handle is reported (``app.report_error``) instead of ending in silence."""

    def _remove_worker(self, worker: Worker[object]) -> None:
        super()._remove_worker(worker)
        error = worker.error
        if worker.state is WorkerState.ERROR and not worker.exit_on_error and isinstance(error, Exception):
            report = getattr(self._app, "report_error", None)
            if report is not None:
                report(error, f"{type(worker.node).__name__}.{worker.name or worker.group}")
