"""SVG snapshot of the Builds screen from fixed data (the BuildService protocol, served from a recording).

Update after an intended change: ``.venv/bin/python -m pytest tests/builds/test_builds_snapshot.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from console.builds.model import (
    BuildEvent,
    BuildRequest,
    BuildSucceeded,
    ImageInfo,
    ImageSummary,
    Layer,
    PushEvent,
    StageFinished,
    StageSummary,
    StepFinished,
    StepOutput,
    StepStarted,
)
from tests.ui.helpers import console_app, rows, wait_for
from tests.ui.test_snapshots import AllowAll, StaticCluster

REF = "registry.local/llm/claude-inference:v1.1.0"
STEPS = [
    ("base", "FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04 AS base", 0.0, False, []),
    ("base", "RUN apt-get update && apt-get install -y python3.10 python3.10-venv", 0.02, True, []),
    ("deps", "FROM base AS deps", 0.0, False, []),
    ("deps", "COPY requirements.txt /tmp/requirements.txt", 0.03, True, []),
    ("deps", "RUN pip install --no-cache-dir -r /tmp/requirements.txt", 0.05, True, []),
    ("runtime", "FROM base AS runtime", 0.0, False, []),
    ("runtime", "COPY --from=deps /opt/venv /opt/venv", 0.04, True, []),
    ("runtime", "COPY --chown=10001:10001 . /app", 1.21, False, ["sending code: 214 files"]),
    ("runtime", "VOLUME /models", 0.11, False, []),
    ("runtime", "USER 10001", 0.09, False, []),
]
IMAGE = ImageInfo(
    REF, "sha256:" + "4b" * 32, 2_104_000_000, "2026-11-25T03:00:00Z", (REF,),
    (Layer("sha256:1", 0, "/bin/sh -c #(nop)  USER 10001"), Layer("sha256:2", 0, "/bin/sh -c #(nop)  VOLUME [/models]"),
     Layer("sha256:3", 1_800_000, "/bin/sh -c #(nop) COPY dir:9f1c in /app "),
     Layer("sha256:4", 1_352_000_000, "/bin/sh -c #(nop) COPY dir:77aa in /opt/venv "),
     Layer("sha256:5", 402_000_000, "|1 PYTHON_VERSION=3.10 /bin/sh -c apt-get install -y python3.10"),
     Layer("sha256:6", 348_200_000, "")),
    env=(("PATH", "/opt/venv/bin:/usr/local/cuda/bin"), ("CUDA_VERSION", "12.2.2")), user="10001",
    volumes=("/models",))


class RecordedBuilds:
    """The BuildService protocol over a recorded three-stage build."""

    host = "unix:///var/run/docker.sock"

    def version(self) -> str:
        return "24.0.7 (API 1.43)"

    def images(self, limit: int = 20) -> list[ImageSummary]:
        return []

    def inspect(self, reference: str) -> ImageInfo:
        return IMAGE

    def push(self, reference: str) -> Iterator[PushEvent]:
        return iter(())

    def close(self) -> None:
        pass

    def start_build(self, request: BuildRequest, size_limit: int | None = None) -> Any:
        events: list[BuildEvent] = []
        finished = []
        for n, (stage, instruction, seconds, cached, output) in enumerate(STEPS, 1):
            events.append(StepStarted(n, len(STEPS), instruction, stage))
            events += [StepOutput(n, line) for line in output]
            finished.append(StepFinished(n, len(STEPS), instruction, stage, seconds, cached))
            events.append(finished[-1])
            if n in (2, 5, 10):
                events.append(StageFinished(stage, f"sha256:{n:064x}"))
        stages = (StageSummary(0, "base", "nvidia/cuda:12.2.2-runtime-ubuntu22.04", 2, 1, 0.02),
                  StageSummary(1, "deps", "base", 3, 2, 0.08), StageSummary(2, "runtime", "base", 5, 1, 1.45))
        events.append(BuildSucceeded(IMAGE.id, (REF,), 1.6, stages, tuple(finished), IMAGE))

        class Run:
            def __iter__(self) -> Iterator[BuildEvent]:
                return iter(events)

            def cancel(self) -> None:
                pass

        return Run()


def test_builds_snapshot(snap_compare: Any, tmp_path: Any) -> None:
    (tmp_path / "Dockerfile").write_text("FROM nvidia/cuda:12.2.2-runtime-ubuntu22.04\nCOPY app.py /app/\n")
    (tmp_path / ".dockerignore").write_text("models/\n")

    async def build(pilot: Any) -> None:
        await pilot.pause(0.2)
        pilot.app.switch_mode("builds")
        await pilot.pause(0.2)
        screen = pilot.app.screen
        screen.begin_build(BuildRequest(str(tmp_path), tags=(REF,)))
        table = screen.query_one("#builds-list")
        await wait_for(pilot, lambda: rows(table)[0][1] == "succeeded")
        await pilot.pause(0.3)

    app = console_app(StaticCluster(), actions=AllowAll(), builds=RecordedBuilds())
    assert snap_compare(app, terminal_size=(150, 40), run_before=build)
