"""Pure parts of delete/edit: which fields an edit changes, and what an edited text may be."""

from __future__ import annotations

import pytest

from console.actions.objects import changed_leaves, parse_edited
from console.actions.validate import ActionError

LIVE = {"kind": "Deployment", "metadata": {"name": "x", "namespace": "llm"},
        "spec": {"template": {"spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "14Gi"}}}]}}}}


def test_changed_leaves_name_the_field_inside_lists() -> None:
    after = {**LIVE, "spec": {"template": {"spec": {"containers": [
        {"name": "a", "resources": {"limits": {"memory": "16Gi"}}}]}}}}
    assert changed_leaves(LIVE, after) == {"spec.template.spec.containers[0].resources.limits.memory": ("14Gi", "16Gi")}
    assert changed_leaves(LIVE, LIVE) == {}
    grown = {"ports": [1, 2]}
    assert changed_leaves({"ports": [1]}, grown) == {"ports": ([1], [1, 2])}


@pytest.mark.parametrize(("text", "why"), [
    ("a: [", "not valid YAML"),
    ("- 1\n- 2\n", "one YAML mapping"),
    ("kind: Deployment\nmetadata: {name: y, namespace: llm}\n", "the name cannot be changed"),
    ("kind: Pod\nmetadata: {name: x, namespace: llm}\n", "the kind cannot be changed"),
    ("kind: Deployment\nmetadata: {name: x, namespace: other}\n", "the namespace cannot be changed"),
])
def test_an_edit_keeps_kind_name_and_namespace(text: str, why: str) -> None:
    with pytest.raises(ActionError) as refused:
        parse_edited(text, LIVE)
    assert why in refused.value.message and refused.value.code == 2


def test_a_valid_edit_parses() -> None:
    assert parse_edited("kind: Deployment\nmetadata: {name: x, namespace: llm}\nspec: {}\n", LIVE)["spec"] == {}
