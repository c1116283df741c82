"""The audit log: one JSON line per dry-run, apply or refusal, so "who changed what, when" has an answer.

Lines go to ``$XDG_STATE_HOME/llmctl/audit.jsonl`` (``--audit-log PATH`` to override), a file only its
owner may read (0600). An entry never holds a credential: values are scrubbed before they are
written (keys named like ``token``/``password``/``secret``, ``Bearer …`` strings, JWTs), as a second
line of defence behind the services never putting one there.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.config import state_dir

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(r"token|password|passwd|secret|authorization|credential|private[-_]?key|client[-_]?key",
                         re.IGNORECASE)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
FIELDS = ("time", "context", "user", "server", "action", "target", "before", "after", "mode", "result", "kubectl")
MODES = ("dry-run", "applied", "refused")


class AuditError(OSError):
    """The audit log could not be written (the message names the file)."""


def rfc3339_now() -> str:
    """Now, UTC, to the second: ``2026-01-31T12:00:00Z`` (what Kubernetes timestamps look like)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scrub(value: Any) -> Any:
    """A copy of ``value`` with anything that looks like a credential replaced by ``<redacted>``."""
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else scrub(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _JWT.sub(REDACTED, _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", value))
    return value


class AuditLog:
    """Append-only JSON-lines audit log."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path else state_dir() / "audit.jsonl"

    def append(self, entry: dict[str, Any]) -> None:
        """Write one line (scrubbed; ``time`` filled in when missing) with a single ``write`` so
        concurrent consoles appending to the same file never interleave within a line."""
        data = {"time": rfc3339_now(), **entry}
        line = json.dumps(scrub(data), sort_keys=False, default=str, ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None
        try:
            if os.fstat(fd).st_mode & 0o077:
                try:
                    os.fchmod(fd, 0o600)  # a file created by other means: make it owner-only
                except OSError:
                    pass
            os.write(fd, line.encode())
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (for tests and ``tail``-like views); [] when there is no log yet."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]
