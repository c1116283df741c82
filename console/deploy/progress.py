"""The deploy engine's resumable progress file: the values, where they came from, the steps done.

One JSON file (mode 0600) per kube context / namespace / name under ``$XDG_STATE_HOME/llmctl/deploy/``, written
after every step of ``llmctl deploy`` (and by the wizard), so a deployment quit midway can be resumed with
the same values from the step after the last one completed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from console.audit import rfc3339_now
from console.config import state_dir
from console.deploy.values.load import parse_values, values_to_dict
from console.deploy.values.schema import Values

STEPS = ("preflight", "render", "diff", "dry-run", "apply", "rollout", "verify")


@dataclass
class DeployProgress:
    """What a wizard needs to resume: the values, where they came from, the steps done, what was applied.

    Stored as JSON (mode 0600) at ``$XDG_STATE_HOME/llmctl/deploy/<context>--<namespace>--<name>.json``::

        {"version": 1, "context": "sandbox-admin", "namespace": "llm-demo", "name": "claude-inference",
         "values_file": "/home/me/values.yaml", "values": {...every key, camelCase...},
         "completed": ["preflight", "render", "diff"], "step": "diff", "manifests": "/…/manifests",
         "applied": ["namespace/llm-demo", ...], "updated": "2026-01-31T12:00:00Z", "error": null}
    """

    context: str
    namespace: str
    name: str
    values: dict[str, Any]
    values_file: str | None = None
    completed: list[str] = field(default_factory=list)
    manifests: str | None = None
    applied: list[str] = field(default_factory=list)
    updated: str = ""
    error: str | None = None
    version: int = 1

    @property
    def step(self) -> str | None:
        """The last completed step."""
        return self.completed[-1] if self.completed else None

    @property
    def next_step(self) -> str | None:
        """The step to run next (None: all done)."""
        if not self.completed:
            return STEPS[0]
        after = STEPS.index(self.completed[-1]) + 1
        return STEPS[after] if after < len(STEPS) else None

    def mark(self, step: str) -> None:
        """Record ``step`` as done (a step redone later moves to the end; steps after it are forgotten)."""
        if step in STEPS:
            self.completed = [s for s in self.completed if STEPS.index(s) < STEPS.index(step)] + [step]
        self.error = None

    def load_values(self) -> Values:
        return parse_values(self.values)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["step"] = self.step
        return data


class ProgressStore:
    """Progress files under ``$XDG_STATE_HOME/llmctl/deploy`` (or ``directory``)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory else state_dir() / "deploy"

    @staticmethod
    def _safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "_"

    def path(self, context: str, namespace: str, name: str) -> Path:
        return self.directory / f"{self._safe(context)}--{self._safe(namespace)}--{self._safe(name)}.json"

    def start(self, context: str, values: Values, values_file: str | None = None) -> DeployProgress:
        return DeployProgress(context, values.namespace, values.name, values_to_dict(values),
                              str(Path(values_file).resolve()) if values_file else None)

    def save(self, progress: DeployProgress) -> Path:
        progress.updated = rfc3339_now()
        path = self.path(progress.context, progress.namespace, progress.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(progress.to_json(), fh, indent=2)
        os.replace(tmp, path)
        return path

    def load(self, context: str, namespace: str, name: str) -> DeployProgress | None:
        return self._read(self.path(context, namespace, name))

    def _read(self, path: Path) -> DeployProgress | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        data.pop("step", None)
        known = set(DeployProgress.__dataclass_fields__)
        try:
            return DeployProgress(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return None

    def all(self) -> list[DeployProgress]:
        """Every saved progress, most recently updated first."""
        found = [p for f in sorted(self.directory.glob("*.json")) if (p := self._read(f)) is not None]
        return sorted(found, key=lambda p: p.updated, reverse=True)

    def clear(self, context: str, namespace: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(context, namespace, name).unlink()
