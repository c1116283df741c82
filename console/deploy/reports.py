"""The deploy engine's reports: frozen records each step returns (see console.deploy.engine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.actions.validate import EXIT_FAILED, EXIT_ROLLOUT_FAILED
from console.core.model import RolloutVerdict
from console.deploy.checks import Check, Status
from console.deploy.render import RenderedObject
from console.deploy.values.nodes import NodeFacts


class DeployError(Exception):
    """A step that cannot go on; ``code`` is the CLI's exit code (1 failed/refused, 2 invalid, 3 rollout failed)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---- reports --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreflightReport:
    checks: tuple[Check, ...]
    facts: NodeFacts = field(default_factory=NodeFacts)
    local_registry: str | None = None

    @property
    def ok(self) -> bool:
        return not any(c.status is Status.FAIL for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.FAIL]


@dataclass(frozen=True)
class ObjectPlan:
    """One rendered object against the cluster. ``state``: new | changed | unchanged | kept."""

    obj: RenderedObject
    state: str
    diff: str = ""
    changed: tuple[str, ...] = ()
    note: str = ""
    live: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    ignored: tuple[tuple[str, ...], ...] = ()

    @property
    def ref(self) -> str:
        return self.obj.ref

    @property
    def kind(self) -> str:
        return self.obj.kind

    @property
    def is_change(self) -> bool:
        return self.state in ("new", "changed")


@dataclass(frozen=True)
class DeployPlan:
    namespace: str
    objects: tuple[ObjectPlan, ...]

    @property
    def changes(self) -> list[ObjectPlan]:
        return [o for o in self.objects if o.is_change]

    @property
    def namespace_new(self) -> bool:
        return any(o.kind == "Namespace" and o.state == "new" for o in self.objects)

    def summary(self) -> str:
        counts = {s: sum(o.state == s for o in self.objects) for s in ("new", "changed", "unchanged", "kept")}
        if not self.changes:
            return f"no changes: {len(self.objects)} objects match the values"
        parts = [f"{counts['new']} to create", f"{counts['changed']} to change", f"{counts['unchanged']} unchanged"]
        if counts["kept"]:
            parts.append(f"{counts['kept']} kept as they are")
        return ", ".join(parts)


@dataclass(frozen=True)
class ObjectResult:
    ref: str
    state: str
    ok: bool
    message: str
    checked: bool = True  # False: the server could not check it (dry-run into a namespace not yet created)


@dataclass(frozen=True)
class ApplyReport:
    mode: str  # dry-run | applied
    ok: bool
    results: tuple[ObjectResult, ...]
    message: str
    rolled_back: tuple[str, ...] = ()

    @property
    def failures(self) -> list[ObjectResult]:
        return [r for r in self.results if not r.ok]


@dataclass(frozen=True)
class PodReport:
    deployment: str
    name: str
    status: str  # kubectl's STATUS column
    ready: bool
    node: str
    cold_start_s: float | None  # creation to Ready, once Ready
    why: str  # the scheduler's message, a waiting reason, the last crash


@dataclass(frozen=True)
class RolloutReport:
    verdicts: tuple[tuple[str, RolloutVerdict], ...]
    pods: tuple[PodReport, ...] = ()
    scheduling: tuple[str, ...] = ()  # distinct FailedScheduling messages
    timed_out: bool = False

    @property
    def done(self) -> bool:
        return bool(self.verdicts) and all(v.done for _, v in self.verdicts)

    @property
    def failed(self) -> bool:
        return any(v.failed for _, v in self.verdicts)


@dataclass(frozen=True)
class VerifyReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not any(c.status is Status.FAIL for c in self.checks)


def exit_code(rollout: RolloutReport | None = None) -> int:
    """The CLI's exit code for a rollout: 3 failed, 1 still in progress, 0 done."""
    if rollout is None:
        return 0
    if rollout.failed:
        return EXIT_ROLLOUT_FAILED
    return 0 if rollout.done else EXIT_FAILED
