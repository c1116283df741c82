"""kubectl's DeploymentStatusViewer, branch by branch (kubectl/pkg/polymorphichelpers/rollout_status.go)."""

from __future__ import annotations

from typing import Any

import pytest

from console.core.model import RolloutVerdict
from console.core.rollout import rollout_verdict

NAME = "claude-inference"
WAIT = f'Waiting for deployment "{NAME}" rollout to finish: '
DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
PROGRESSING = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}


def dep(gen: int = 2, observed: int | None = 2, replicas: int | None = 2, status: dict[str, Any] | None = None,
        conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    st: dict[str, Any] = {**(status or {}), "conditions": conditions or []}
    if observed is not None:
        st["observedGeneration"] = observed
    return {"metadata": {"name": NAME, "generation": gen}, "spec": spec, "status": st}


CASES = [
    ("spec update not observed", dep(gen=3, observed=2, status={"updatedReplicas": 2, "replicas": 2,
                                                                "availableReplicas": 2}),
     RolloutVerdict(False, False, "Waiting for deployment spec update to be observed...")),
    ("no status at all: generation 1 > observed 0", dep(gen=1, observed=None),
     RolloutVerdict(False, False, "Waiting for deployment spec update to be observed...")),
    ("deadline only counts once observed", dep(gen=3, observed=2, conditions=[DEADLINE]),
     RolloutVerdict(False, False, "Waiting for deployment spec update to be observed...")),
    ("deadline beats every counter", dep(status={"updatedReplicas": 1, "replicas": 3, "availableReplicas": 1},
                                         conditions=[DEADLINE]),
     RolloutVerdict(False, True, f'deployment "{NAME}" exceeded its progress deadline')),
    ("deadline even when the counters look done", dep(status={"updatedReplicas": 2, "replicas": 2,
                                                                "availableReplicas": 2}, conditions=[DEADLINE]),
     RolloutVerdict(False, True, f'deployment "{NAME}" exceeded its progress deadline')),
    ("other Progressing reasons are not failure", dep(status={"updatedReplicas": 2, "replicas": 2,
                                                               "availableReplicas": 2}, conditions=[PROGRESSING]),
     RolloutVerdict(True, False, f'deployment "{NAME}" successfully rolled out')),
    ("new replicas being updated", dep(status={"updatedReplicas": 1, "replicas": 3, "availableReplicas": 2}),
     RolloutVerdict(False, False, f"{WAIT}1 out of 2 new replicas have been updated...")),
    ("no status counters yet", dep(status={}),
     RolloutVerdict(False, False, f"{WAIT}0 out of 2 new replicas have been updated...")),
    ("old replicas pending termination", dep(status={"updatedReplicas": 2, "replicas": 3, "availableReplicas": 2}),
     RolloutVerdict(False, False, f"{WAIT}1 old replicas are pending termination...")),
    ("updated replicas not yet available", dep(status={"updatedReplicas": 2, "replicas": 2,
                                                       "availableReplicas": 1}),
     RolloutVerdict(False, False, f"{WAIT}1 of 2 updated replicas are available...")),
    ("done", dep(status={"updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}),
     RolloutVerdict(True, False, f'deployment "{NAME}" successfully rolled out')),
    ("spec.replicas absent skips the updated-count check", dep(replicas=None, status={"updatedReplicas": 0,
                                                                                       "replicas": 0}),
     RolloutVerdict(True, False, f'deployment "{NAME}" successfully rolled out')),
    ("spec.replicas absent, old replicas left", dep(replicas=None, status={"updatedReplicas": 1, "replicas": 2,
                                                                           "availableReplicas": 1}),
     RolloutVerdict(False, False, f"{WAIT}1 old replicas are pending termination...")),
    ("scaled to zero, done", dep(replicas=0, status={}),
     RolloutVerdict(True, False, f'deployment "{NAME}" successfully rolled out')),
    ("observed ahead of generation counts as observed", dep(gen=2, observed=3, status={
        "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}),
     RolloutVerdict(True, False, f'deployment "{NAME}" successfully rolled out')),
    ("more available than updated is done", dep(status={"updatedReplicas": 2, "replicas": 2,
                                                        "availableReplicas": 3}),
     RolloutVerdict(True, False, f'deployment "{NAME}" successfully rolled out')),
]


@pytest.mark.parametrize(("deployment", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rollout_verdict(deployment: dict[str, Any], expected: RolloutVerdict) -> None:
    verdict = rollout_verdict(deployment)
    assert verdict == expected
    assert not verdict.message.endswith("\n")


def test_counters_as_strings_and_missing_metadata_do_not_crash() -> None:
    verdict = rollout_verdict({"metadata": {"name": "x", "generation": "1"}, "spec": {"replicas": "1"},
                               "status": {"observedGeneration": "1", "updatedReplicas": "1", "replicas": "1",
                                          "availableReplicas": "1"}})
    assert verdict.done
    assert rollout_verdict({}) == RolloutVerdict(True, False, 'deployment "" successfully rolled out')
