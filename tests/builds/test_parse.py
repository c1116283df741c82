"""The Dockerfile parser and the build-stream parser, on recorded engine output (no engine needed)."""

from __future__ import annotations

from console.builds.model import (
    BuildFailed,
    StageFinished,
    StepFinished,
    StepOutput,
    StepStarted,
    layer_instruction,
)
from console.builds.parse import BuildStreamParser, clean_line, parse_dockerfile, substitute

# What dockerd 20.10's classic builder streams (recorded), chunks as they arrive.
FAILING = [
    {"stream": "Step 1/3 : FROM local/busybox:1 AS base"}, {"stream": "\n"}, {"stream": " ---> f8326eb73933\n"},
    {"stream": "Step 2/3 : ENV CUDA_VERSION=12.2.2"}, {"stream": "\n"}, {"stream": " ---> Using cache\n"},
    {"stream": " ---> 2099769df2f1\n"},
    {"stream": "Step 3/3 : RUN echo one; echo two >&2; exit 3"}, {"stream": "\n"},
    {"stream": " ---> [Warning] IPv4 forwarding is disabled. Networking will not work.\n"},
    {"stream": " ---> Running in 7583377ed414\n"}, {"stream": "one\n"}, {"stream": "\x1b[91mtwo\n\x1b[0m"},
    {"stream": "Removing intermediate container 7583377ed414\n"},
    {"errorDetail": {"code": 3, "message": "The command '/bin/sh -c echo one; echo two >&2; exit 3' returned a "
                                           "non-zero code: 3"},
     "error": "The command '/bin/sh -c echo one; echo two >&2; exit 3' returned a non-zero code: 3"},
]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_stream_gives_steps_durations_cache_hits_output_and_the_failing_step() -> None:
    clock = Clock()
    parser = BuildStreamParser(clock)
    events = []
    for chunk in FAILING:
        clock.now += 0.5
        events += parser.feed(chunk)
    started = [e for e in events if isinstance(e, StepStarted)]
    assert [(e.step, e.total, e.stage) for e in started] == [(1, 3, "base"), (2, 3, "base"), (3, 3, "base")]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [(e.step, e.cached) for e in finished] == [(1, False), (2, True)]
    assert finished[1].seconds == 2.0 and finished[1].layer_id == "2099769df2f1"
    output = [e for e in events if isinstance(e, StepOutput)]
    assert [(o.line, o.warning) for o in output] == [
        ("warning: IPv4 forwarding is disabled. Networking will not work.", True), ("one", False), ("two", False)]
    failed = events[-1]
    assert isinstance(failed, BuildFailed)
    assert failed.step == 3 and failed.total == 3 and failed.instruction.startswith("RUN echo one")
    assert "non-zero code: 3" in failed.message and failed.last_lines == ("one", "two")


def test_aux_ids_close_stages_and_warnings_show_once() -> None:
    parser = BuildStreamParser(Clock())
    events = []
    for chunk in [{"stream": "Step 1/4 : FROM local/busybox:1 AS deps\n"},
                  {"stream": " ---> [Warning] same\n"}, {"stream": "Step 2/4 : RUN true\n"},
                  {"stream": " ---> [Warning] same\n"}, {"aux": {"ID": "sha256:aaa"}},
                  {"stream": "Step 3/4 : FROM deps\n"}, {"stream": "Step 4/4 : COPY --from=deps /x /x\n"},
                  {"aux": {"ID": "sha256:bbb"}}, {"stream": "Successfully built bbb\n"}]:
        events += parser.feed(chunk)
    events += parser.finish()
    assert [e for e in events if isinstance(e, StageFinished)] == [StageFinished("deps", "sha256:aaa"),
                                                                   StageFinished("1", "sha256:bbb")]
    assert sum(isinstance(e, StepOutput) for e in events) == 1
    assert [(s.name, s.base, s.steps) for s in parser.stages()] == [("deps", "local/busybox:1", 2), ("1", "deps", 2)]
    assert parser.image_id == "sha256:bbb"


def test_dockerfile_parser_joins_continuations_and_reads_stages() -> None:
    df = parse_dockerfile(
        "# syntax=docker/dockerfile:1\nARG CUDA=12.2.2\nARG PY\n"
        "FROM nvidia/cuda:${CUDA}-runtime AS base\nRUN apt-get update \\\n  # a comment inside\n"
        "  && apt-get install -y python3\n"
        "FROM base AS runtime\nCOPY --from=base --chown=1:1 [\"a b\", \"/dst\"]\nRUN <<EOF\necho hi\nEOF\nUSER 1\n")
    assert df.global_args == (("CUDA", "12.2.2"), ("PY", None))
    assert [(s.name, s.base, s.line) for s in df.stages] == [("base", "nvidia/cuda:${CUDA}-runtime", 4),
                                                              ("runtime", "base", 8)]
    assert df.resolved_base(df.stages[0]) == "nvidia/cuda:12.2.2-runtime"
    run = df.stages[0].instructions[0]
    assert run.keyword == "RUN" and run.args == "apt-get update && apt-get install -y python3"
    copy = df.stages[1].instructions[0]
    assert copy.flag("from") == "base" and copy.flag("chown") == "1:1" and copy.sources() == ["a b"]
    assert [i.keyword for i in df.stages[1].instructions] == ["COPY", "RUN", "USER"]
    assert [s.name for s in df.chain(df.stages[1])] == ["runtime", "base"]


def test_substitution_and_cleaning() -> None:
    assert substitute("${A:-x}-$B-${C:+set}", {"B": "b", "C": "1"}) == "x-b-set"
    assert clean_line("\x1b[91m 10%\r 50%\r100%\x1b[0m") == "100%"
    assert layer_instruction("/bin/sh -c #(nop)  ENV A=1") == "ENV A=1"
    assert layer_instruction("|1 BASE=x /bin/sh -c echo hi") == "RUN echo hi"
    assert layer_instruction("") == "(base image)"
