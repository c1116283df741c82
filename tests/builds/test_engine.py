"""The Docker adapter against a real Docker Engine (our own dockerd) and a real registry on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from console.builds.engine import DockerBuildService
from console.builds.model import (
    BuildCancelled,
    BuildFailed,
    BuildRequest,
    BuildSucceeded,
    DockerUnavailable,
    ImageNotFound,
    LayerProgress,
    PushFailed,
    PushFinished,
    StageFinished,
    StepFinished,
    StepOutput,
    StepStarted,
)
from tests.builds.conftest import write_context
from tests.infra_docker import Engine, Registry


def collect(run) -> list[tuple[float, object]]:
    return [(time.monotonic(), event) for event in run]


def test_multi_stage_build_streams_steps_then_hits_the_cache(builds: DockerBuildService, tmp_path: Path) -> None:
    ctx = write_context(tmp_path)
    request = BuildRequest(str(ctx), tags=("llmctl-test/inference:v1", "llmctl-test/inference:v1-extra"),
                           no_cache=True)
    timed = collect(builds.start_build(request, size_limit=1_000_000))
    events = [e for _, e in timed]
    started = [e for e in events if isinstance(e, StepStarted)]
    total = started[0].total
    assert [e.step for e in started] == list(range(1, total + 1)) and total == 15
    assert [e.stage for e in started if e.instruction.startswith("FROM")] == ["base", "deps", "runtime"]
    lines = [e.line for e in events if isinstance(e, StepOutput)]
    assert "base ready" in lines and "installing 2 requirements" in lines
    # Streamed live: the first step arrived well before the end (the deps step sleeps 0.4 s).
    assert timed[-1][0] - timed[0][0] >= 0.35
    assert [e.stage for e in events if isinstance(e, StageFinished)] == ["base", "deps", "runtime"]
    done = events[-1]
    assert isinstance(done, BuildSucceeded), done
    run_step = next(s for s in done.steps if "installing" in s.instruction)
    assert run_step.seconds >= 0.35 and not run_step.cached
    assert [(s.name, s.base) for s in done.stages] == [("base", "local/busybox:1"), ("deps", "base"),
                                                       ("runtime", "base")]

    image = done.image
    assert image is not None and image.size > 2_000_000
    largest = image.largest_layers
    assert largest[0].created_by == "" and largest[0].size > 1_500_000, "the busybox base layer is the biggest"
    assert largest[1].size >= 400_000 and "COPY dir:" in largest[1].created_by, "the venv copied from deps"
    assert image.cuda_version == "12.2.2" and image.user == "10001" and image.volumes == ("/models",)
    assert ("org.opencontainers.image.title", "inference") in image.labels
    assert {"llmctl-test/inference:v1", "llmctl-test/inference:v1-extra"} <= set(image.tags)
    assert [f.rule for f in done.findings] == ["image-too-large"]
    assert any(i.reference == "llmctl-test/inference:v1" for i in builds.images())

    again = list(builds.start_build(BuildRequest(str(ctx), tags=("llmctl-test/inference:v1",))))
    steps = [e for e in again if isinstance(e, StepFinished)]
    cached = [s for s in steps if s.cached]
    assert len(cached) == len([s for s in steps if not s.instruction.startswith(("FROM", "ARG"))]) == 11
    assert isinstance(again[-1], BuildSucceeded) and again[-1].image_id == done.image_id


def test_failing_step_is_reported_with_its_last_output(builds: DockerBuildService, docker_engine: Engine,
                                                       tmp_path: Path) -> None:
    ctx = write_context(tmp_path, "FROM local/busybox:1\nRUN echo fetching weights\n"
                                  "RUN echo compiling; echo 'nvcc fatal: unsupported gpu architecture' >&2; exit 3\n")
    events = list(builds.start_build(BuildRequest(str(ctx), tags=("llmctl-test/broken:v1",))))
    failed = events[-1]
    assert isinstance(failed, BuildFailed)
    assert (failed.step, failed.total) == (3, 3) and failed.instruction.startswith("RUN echo compiling")
    assert "returned a non-zero code: 3" in failed.message
    # stdout and stderr reach the engine on separate pipes: their order is not guaranteed.
    assert sorted(failed.last_lines) == ["compiling", "nvcc fatal: unsupported gpu architecture"]
    api = docker.APIClient(base_url=docker_engine.host, timeout=10)
    assert api.containers(all=True, filters={"ancestor": "local/busybox:1"}) == [], "no container left behind"


@pytest.mark.parametrize(("dockerfile", "target", "message"), [
    ("FROM local/busybox:1\nFOO bar\n", None, "dockerfile parse error line 2: unknown instruction: FOO"),
    ("FROM local/busybox:1 AS a\nRUN true\n", "nope", "failed to reach build target nope"),
])
def test_broken_dockerfile_gives_the_engines_message(builds: DockerBuildService, tmp_path: Path, dockerfile: str,
                                                     target: str | None, message: str) -> None:
    ctx = write_context(tmp_path, dockerfile)
    events = list(builds.start_build(BuildRequest(str(ctx), target=target)))
    assert len(events) == 1 and isinstance(events[0], BuildFailed)
    assert message in events[0].message and "Traceback" not in events[0].message


def test_push_with_layer_progress_then_pull_back(builds: DockerBuildService, registry: Registry,
                                                 docker_engine: Engine, tmp_path: Path) -> None:
    # A layer of its own (the registry is shared by the session's tests, and identical layers are not pushed again)
    ctx = write_context(tmp_path, files={"app.py": f"print('serving {tmp_path.name}')\n"})
    ref = f"{registry.address}/llm/inference:v1.0.0"
    built = list(builds.start_build(BuildRequest(str(ctx), tags=(ref,))))[-1]
    assert isinstance(built, BuildSucceeded)
    events = list(builds.push(ref))
    progress = [e for e in events if isinstance(e, LayerProgress)]
    assert {e.status for e in progress} >= {"Preparing", "Pushed"}
    assert len({e.layer for e in progress}) >= 3
    finished = events[-1]
    assert isinstance(finished, PushFinished) and finished.digest.startswith("sha256:")

    # The registry holds the image config (CUDA_VERSION) — readable without pulling it.
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    base = f"http://{registry.address}/v2/llm/inference"
    with urllib.request.urlopen(urllib.request.Request(f"{base}/manifests/v1.0.0", headers=accept)) as r:
        manifest = json.load(r)
    with urllib.request.urlopen(f"{base}/blobs/{manifest['config']['digest']}") as r:
        config = json.load(r)
    assert "CUDA_VERSION=12.2.2" in config["config"]["Env"]

    api = docker.APIClient(base_url=docker_engine.host, timeout=30)
    api.remove_image(ref)
    with pytest.raises(ImageNotFound):
        builds.inspect(ref)
    api.pull(f"{registry.address}/llm/inference", tag="v1.0.0")
    assert builds.inspect(ref).cuda_version == "12.2.2"


def test_push_to_a_dead_registry_says_so(builds: DockerBuildService, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, "FROM local/busybox:1\nENV X=1\n")
    ref = "127.0.0.1:9/llm/dead:v1"
    assert isinstance(list(builds.start_build(BuildRequest(str(ctx), tags=(ref,))))[-1], BuildSucceeded)
    failed = list(builds.push(ref))[-1]
    assert isinstance(failed, PushFailed) and "connection refused" in failed.message
    assert "registry" in failed.message


def test_cancel_stops_the_build_cleanly(builds: DockerBuildService, docker_engine: Engine, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, "FROM local/busybox:1\nRUN echo started; sleep 30; echo never\n")
    run = builds.start_build(BuildRequest(str(ctx), tags=("llmctl-test/slow:v1",), no_cache=True))
    events = []
    start = time.monotonic()
    for event in run:
        events.append(event)
        if isinstance(event, StepOutput) and event.line == "started":
            threading.Timer(0.2, run.cancel).start()
    assert time.monotonic() - start < 10
    assert isinstance(events[-1], BuildCancelled) and events[-1].step == 2
    api = docker.APIClient(base_url=docker_engine.host, timeout=10)
    deadline = time.monotonic() + 10
    while api.containers(all=True, filters={"ancestor": "local/busybox:1"}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api.containers(all=True, filters={"ancestor": "local/busybox:1"}) == [], "the step's container is gone"
    assert "llmctl-test/slow:v1" not in {i.reference for i in builds.images()}
    assert builds.version()  # the engine is fine


def test_unreachable_engine_says_how_to_point_docker_host(tmp_path: Path) -> None:
    service = DockerBuildService(f"unix://{tmp_path}/no.sock")
    with pytest.raises(DockerUnavailable) as err:
        service.version()
    assert f"unix://{tmp_path}/no.sock" in str(err.value) and "DOCKER_HOST" in str(err.value)
    with pytest.raises(DockerUnavailable):
        list(service.start_build(BuildRequest(str(tmp_path))))
