"""Input validation (image references, replicas, HPA bounds) and the audit log's format and scrubbing."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from console.actions.validate import (
    ActionError,
    image_reference_problem,
    parse_hpa,
    parse_replicas,
    parse_revision,
    pick_container,
    split_image_spec,
)
from console.audit import FIELDS, AuditLog, scrub

GOOD_IMAGES = [
    "nginx",
    "nginx:1.25",
    "library/nginx:latest",
    "docker.io/library/nginx:1.25.3-alpine",
    "127.0.0.1:5000/llm/claude-inference:v1.1.0",
    "localhost/claude:v1",
    "localhost:5000/a/b/c:v1",
    "registry.example.com:443/team/model_server__x/y-z.w:TAG_1.0-rc1",
    "nvcr.io/nvidia/tritonserver:24.01-py3",
    "ghcr.io/org/app@sha256:" + "a" * 64,
    "ghcr.io/org/app:v1@sha256:" + "0123456789abcdef" * 4,
    "[::1]:5000/llm/x:v1",
    "my-registry.local/a--b/c",
    "a" * 100 + ":" + "t" * 128,
]
BAD_IMAGES = [
    ("", "must not be empty"),
    ("nginx latest", "must not contain spaces"),
    (" nginx", "must not contain spaces"),
    ("Nginx", "must be lowercase"),
    ("llm/Claude-Inference:v1", "must be lowercase"),
    ("registry.io/Team/app", "must be lowercase"),
    ("nginx:", "tag"),
    ("nginx:.hidden", "tag"),
    ("nginx:-dash", "tag"),
    ("nginx:" + "t" * 129, "tag"),
    ("nginx:v1!", "tag"),
    ("nginx@sha256:abc", "digest"),
    ("nginx@md5:" + "a" * 32, "digest"),
    ("nginx@sha256:" + "A" * 64, "digest"),
    ("/nginx", "repository path component"),
    ("llm//x", "repository path component"),
    ("llm/x/", "repository path component"),
    ("-nginx", "repository path component"),
    ("nginx_", "repository path component"),
    ("a..b/c", "registry host"),
    ("bad_host.io/app", "registry host"),
    (":v1", "repository name is missing"),
    ("a" * 256, "longer than 255"),
]


@pytest.mark.parametrize("ref", GOOD_IMAGES)
def test_good_image_references(ref: str) -> None:
    assert image_reference_problem(ref) is None


@pytest.mark.parametrize(("ref", "why"), BAD_IMAGES, ids=[b[0][:40] or "empty" for b in BAD_IMAGES])
def test_bad_image_references(ref: str, why: str) -> None:
    problem = image_reference_problem(ref)
    assert problem is not None and why in problem


def test_image_spec_and_container_choice() -> None:
    assert split_image_spec("inference=nginx:1") == ("inference", "nginx:1")
    assert split_image_spec("  nginx:1 ") == (None, "nginx:1")
    with pytest.raises(ActionError) as empty_name:
        split_image_spec("=nginx")
    assert empty_name.value.code == 2
    with pytest.raises(ActionError) as bad:
        split_image_spec("inference=Bad Image")
    assert bad.value.code == 2 and "spaces" in bad.value.message
    assert pick_container(["inference"], None, "d") == "inference"
    with pytest.raises(ActionError) as several:
        pick_container(["a", "b"], None, "d")
    assert several.value.message == ('deployment "d" has 2 containers: name one as CONTAINER=IMAGE '
                                     "(containers: a, b)")
    with pytest.raises(ActionError) as unknown:
        pick_container(["a", "b"], "c", "d")
    assert unknown.value.message == 'deployment "d" has no container "c"; containers: a, b'


@pytest.mark.parametrize("value", ["-1", -1, 1001, "1001", "two", "2.5", 2.5, "", " ", None, True, "1e3", "0x10"])
def test_bad_replicas(value: object) -> None:
    with pytest.raises(ActionError) as exc:
        parse_replicas(value)  # type: ignore[arg-type]
    assert exc.value.code == 2 and exc.value.message.startswith("replicas must be an integer from 0 to 1000, not")


def test_replicas_message_and_good_values() -> None:
    with pytest.raises(ActionError) as exc:
        parse_replicas("-1")
    assert exc.value.message == "replicas must be an integer from 0 to 1000, not '-1'"
    assert [parse_replicas(v) for v in (0, "0", " 7 ", 1000, "+3")] == [0, 0, 7, 1000, 3]
    assert parse_revision(None) is None and parse_revision("") is None and parse_revision("3") == 3
    with pytest.raises(ActionError):
        parse_revision("0")


def test_hpa_bounds() -> None:
    assert parse_hpa("2", "8", None) == (2, 8, None)
    assert parse_hpa(None, 5, "70") == (None, 5, 70)
    for args, message in [(("5", "3", None), "minReplicas (5) must not exceed maxReplicas (3)"),
                          (("0", "3", None), "minReplicas must be an integer from 1 to 1000, not '0'"),
                          (("1", "1001", None), "maxReplicas must be an integer from 1 to 1000, not '1001'"),
                          (("1", "2", "0"), "CPU target (percent) must be an integer from 1 to 100, not '0'"),
                          (("1", "2", "101"), "CPU target (percent) must be an integer from 1 to 100, not '101'"),
                          ((None, None, None), "nothing to change")]:
        with pytest.raises(ActionError) as exc:
            parse_hpa(*args)
        assert exc.value.code == 2 and message in exc.value.message


# ---- audit ----------------------------------------------------------------------------------------------
def test_audit_line_fields_mode_and_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    log = AuditLog()
    assert log.path == tmp_path / "state" / "llmctl" / "audit.jsonl"
    entry = {"context": "c", "user": "u", "server": "https://x", "action": "scale", "target": "llm/Deployment/d",
             "before": {"replicas": 2}, "after": {"replicas": 3}, "mode": "dry-run", "result": "ok",
             "kubectl": "kubectl scale deployment/d --replicas=3 -n llm"}
    log.append(entry)
    log.append({**entry, "mode": "applied"})
    lines = log.path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == list(FIELDS)
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert [e["mode"] for e in log.entries()] == ["dry-run", "applied"]


def test_audit_fixes_a_loose_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "log.jsonl"
    path.parent.mkdir()
    path.write_text("")
    os.chmod(path, 0o644)
    AuditLog(path).append({"action": "x"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_audit_unwritable_is_an_error(tmp_path: Path) -> None:
    from console.audit import AuditError

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditError) as exc:
        AuditLog(blocker / "audit.jsonl").append({"action": "x"})
    assert str(blocker) in str(exc.value)


def test_audit_never_writes_a_token(tmp_path: Path) -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXZhbHVl"
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append({"action": "scale", "result": "forbidden: Authorization: Bearer s3cr3t-t0ken-value rejected",
                "token": "plain-token-123", "before": {"password": "hunter2", "nested": [{"client-key": "k3y"}],
                                                       "note": f"token was {jwt}"},
                "after": {"Secret": "x", "ok": "value", "apiToken": "abc"}, "kubectl": "kubectl get pods"})
    text = log.path.read_text()
    for secret in ("s3cr3t-t0ken-value", "plain-token-123", "hunter2", "k3y", jwt, '"abc"'):
        assert secret not in text
    entry = json.loads(text)
    assert entry["after"]["ok"] == "value" and entry["kubectl"] == "kubectl get pods"
    assert entry["result"] == "forbidden: Authorization: Bearer <redacted> rejected"


def test_scrub_keeps_ordinary_values() -> None:
    data = {"images": {"inference": "127.0.0.1:5000/llm/x@sha256:" + "a" * 64}, "replicas": 3, "paused": None}
    assert scrub(data) == data
