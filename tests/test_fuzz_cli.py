"""Hostile arguments for the headless commands (hypothesis): never a traceback, an exit code the README
documents, and nothing changed on the cluster when the input was not valid."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.cli import main
from console.sandbox.server import SandboxThread
from tests.actions.conftest import DEP, NS, apps_api
from tests.conftest import start_sandbox

EXISTING = {DEP, "claude-long-queue", "claude-short-queue", "claude-router", "claude-hpa"}
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
names = st.one_of(st.just(""), text, st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True)).filter(
    lambda n: n not in EXISTING and not n.startswith("-"))
numbers = st.one_of(text, st.sampled_from(["-1", "1001", "٣", "3.5", "1e3", "+2", " 2", "99999999999", "nan"]))
durations = st.one_of(text, st.sampled_from(["100000000000d", "-1m", "0s", "nan", "1e400s", "31d", "2 h"]))
seconds = st.one_of(text, st.sampled_from(["-1", "nan", "inf", "1e309", "-0.0"]))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxThread]:
    thread = start_sandbox()
    state = tmp_path_factory.mktemp("state")
    old = {k: os.environ.get(k) for k in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "KUBECONFIG")}
    os.environ.update(XDG_STATE_HOME=str(state), XDG_CONFIG_HOME=str(state / "config"))
    os.environ.pop("KUBECONFIG", None)
    try:
        yield thread
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        thread.stop()


def marks(sb: SandboxThread) -> dict[str, str]:
    apps = apps_api(sb)
    return {d.metadata.name: d.metadata.resource_version for d in apps.list_namespaced_deployment(NS).items}


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return code, err.getvalue()


def check(sb: SandboxThread, argv: list[str]) -> None:
    before = marks(sb)
    code, err = run([*argv, "--kubeconfig", sb.info.kubeconfig])
    assert "Traceback" not in err, err
    assert code in (0, 1, 2, 3), (argv, code, err)
    if code == 2:
        assert err.strip(), "a usage error says why"
        assert marks(sb) == before, f"{argv} changed the cluster although it was refused"


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


@SETTINGS
@given(name=names, replicas=numbers)
def test_scale(cluster: SandboxThread, name: str, replicas: str) -> None:
    check(cluster, ["scale", name, "--replicas", replicas, "--yes", "--no-wait"])


@SETTINGS
@given(replicas=numbers, timeout=seconds)
def test_scale_of_a_real_deployment_with_bad_numbers(cluster: SandboxThread, replicas: str, timeout: str) -> None:
    if replicas.isascii() and replicas.strip().lstrip("+").isdigit() and int(replicas) <= 1000:
        replicas = "-1"  # a valid count would scale for real: this test is about refusals
    check(cluster, ["scale", DEP, "--replicas", replicas, "--yes", "--timeout", timeout])


@SETTINGS
@given(name=names, image=text, revision=numbers)
def test_rollout_commands(cluster: SandboxThread, name: str, image: str, revision: str) -> None:
    check(cluster, ["rollout", "set-image", name, image, "--yes", "--no-wait"])
    check(cluster, ["rollout", "undo", name, "--to-revision", revision, "--yes", "--no-wait"])
    check(cluster, ["rollout", "status", name])


@SETTINGS
@given(name=names, low=numbers, high=numbers)
def test_hpa_set(cluster: SandboxThread, name: str, low: str, high: str) -> None:
    check(cluster, ["hpa", "set", name, "--min", low, "--max", high, "--yes"])


@SETTINGS
@given(image=text, minutes=numbers, duration=durations)
def test_check_incident_silence(cluster: SandboxThread, image: str, minutes: str, duration: str) -> None:
    check(cluster, ["check", "--image", image])
    check(cluster, ["incident", "snapshot", "--minutes", minutes])
    check(cluster, ["silence", "create", "-d", duration, "-c", "x", "-m", "a=b", "--alertmanager",
                    "http://127.0.0.1:9"])


def test_values_alias_bomb_is_refused_at_once(cluster: SandboxThread, tmp_path: Path) -> None:
    bomb = tmp_path / "values.yaml"
    bomb.write_text("a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)))
    for argv in (["render", "-f", str(bomb)], ["deploy", "-f", str(bomb), "--yes"]):
        code, err = run(argv)
        assert code == 2 and "billion laughs" in err and "Traceback" not in err


@pytest.mark.parametrize("content", [None, b"\x00\x01binary", b"- a\n- b\n", b"a: &a [x,x]\nb: [*a, *a]\nc: {",
                                     b"apiVersion: v1\ncontexts: [{name: x, context: {cluster: nope, user: u}}]\n"
                                     b"current-context: x\nusers: [{name: u, user: {token: t}}]\n"])
def test_an_unusable_kubeconfig_is_one_line_and_exit_2_at_once(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "kubeconfig"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    for argv in (["status"], ["scale", DEP, "--replicas", "2", "--yes"], ["check"], ["alerts"],
                 ["incident", "snapshot"]):
        code, err = run([*argv, "--kubeconfig", str(path)])
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert "kubeconfig" in err or "context" in err, err
