"""Pure parsing for builds: Dockerfiles (instructions, stages, ARG substitution) and the engine's build
stream (``{"stream": "Step 3/9 : RUN ..."}`` chunks) turned into typed step events with durations.

No Docker import: the stream parser is fed plain dicts, so it is tested with recorded streams.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from console.builds.model import (
    BuildEvent,
    BuildFailed,
    StageFinished,
    StageSummary,
    StepFinished,
    StepOutput,
    StepStarted,
)

LAST_LINES = 12  # output lines kept per step, shown with a failure


# ---- Dockerfile -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line where the instruction starts
    keyword: str  # upper case: "COPY"
    args: str  # the text after the keyword and its --flags
    flags: tuple[tuple[str, str], ...] = ()  # (("from", "deps"), ("chown", "app:app"))

    def flag(self, name: str) -> str | None:
        return dict(self.flags).get(name)

    def words(self) -> list[str]:
        """The arguments as words: JSON form (``["a", "b"]``) or shell-like form."""
        text = self.args.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
                if isinstance(value, list):
                    return [str(v) for v in value]
            except json.JSONDecodeError:
                pass
        try:
            return shlex.split(text)
        except ValueError:
            return text.split()

    def sources(self) -> list[str]:
        """COPY/ADD sources: every word but the destination."""
        words = self.words()
        return words[:-1] if len(words) > 1 else []


@dataclass(frozen=True)
class Stage:
    index: int
    name: str  # "" when the stage has no AS name
    base: str  # as written in FROM (ARGs unresolved)
    line: int
    instructions: tuple[Instruction, ...] = ()

    @property
    def label(self) -> str:
        return self.name or str(self.index)


@dataclass(frozen=True)
class Dockerfile:
    global_args: tuple[tuple[str, str | None], ...]  # ARGs before the first FROM, with their defaults
    stages: tuple[Stage, ...]
    instructions: tuple[Instruction, ...] = field(default=())

    def stage(self, name: str) -> Stage | None:
        for s in self.stages:
            if (s.name and s.name.lower() == name.lower()) or str(s.index) == name:
                return s
        return None

    def resolved_base(self, stage: Stage, build_args: Mapping[str, str] | None = None) -> str:
        """The stage's FROM with global ARGs substituted (build args override the defaults)."""
        values = {k: v for k, v in self.global_args if v is not None}
        values.update(build_args or {})
        return substitute(stage.base, values)

    def chain(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        out = [stage]
        seen = {stage.index}
        while True:
            parent = self.stage(out[-1].base)
            if parent is None or parent.index in seen or parent.index >= out[-1].index:
                return out
            seen.add(parent.index)
            out.append(parent)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Dockerfile variable substitution: ``$V``, ``${V}``, ``${V:-default}``, ``${V:+alternative}``."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        value = values.get(name, "")
        if m.group(2) == "-":
            return value or m.group(3)
        if m.group(2) == "+":
            return m.group(3) if value else ""
        return value

    return _VAR.sub(repl, text)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines; drop comments and blank lines; skip heredoc bodies. (line number, text)."""
    escape = "\\"
    lines = text.splitlines()
    for raw in lines[:5]:  # parser directives live at the very top
        m = re.match(r"#\s*escape\s*=\s*(\S)", raw.strip())
        if m:
            escape = m.group(1)
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    heredoc: str | None = None
    for number, raw in enumerate(lines, 1):
        if heredoc is not None:
            if raw.strip() == heredoc:
                heredoc = None
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments inside a continuation are dropped too, as the engine does
        if not buf:
            start = number
        if stripped.endswith(escape):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        joined = " ".join(b for b in buf if b)
        out.append((start, joined))
        buf = []
        m = re.search(r"<<-?[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?", joined)
        if m and joined.split(None, 1)[0].upper() in ("RUN", "COPY", "ADD"):
            heredoc = m.group(1)
    if buf:
        out.append((start, " ".join(b for b in buf if b)))
    return out


def parse_dockerfile(text: str) -> Dockerfile:
    """Instructions and stages of a Dockerfile. Unknown instructions are kept (the engine judges them)."""
    instructions: list[Instruction] = []
    for number, line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        flags: list[tuple[str, str]] = []
        rest = rest.strip()
        while rest.startswith("--"):
            word, _, rest = rest.partition(" ")
            name, _, value = word[2:].partition("=")
            flags.append((name.lower(), value))
            rest = rest.strip()
        instructions.append(Instruction(number, keyword.upper(), rest, tuple(flags)))
    global_args: list[tuple[str, str | None]] = []
    stages: list[Stage] = []
    current: list[Instruction] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            if stages:
                stages[-1] = Stage(stages[-1].index, stages[-1].name, stages[-1].base, stages[-1].line,
                                   tuple(current))
            words = ins.args.split()
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else ""
            stages.append(Stage(len(stages), name, words[0] if words else "", ins.line))
            current = []
        elif not stages and ins.keyword == "ARG":
            name, eq, default = ins.args.strip().partition("=")
            global_args.append((name.strip(), default.strip().strip('"') if eq else None))
        elif stages:
            current.append(ins)
    if stages:
        stages[-1] = Stage(stages[-1].index, stages[-1].name, stages[-1].base, stages[-1].line, tuple(current))
    return Dockerfile(tuple(global_args), tuple(stages), tuple(instructions))


# ---- the build stream -----------------------------------------------------------------------------------
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_LAYER = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_RUNNING = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_line(text: str) -> str:
    """A printable line: ANSI colours removed, carriage-return progress bars reduced to their last state."""
    text = _ANSI.sub("", text)
    if "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    return text.rstrip()


@dataclass
class _Stage:
    index: int
    name: str
    base: str
    steps: int = 0
    cached: int = 0
    seconds: float = 0.0
    image_id: str = ""


class BuildStreamParser:
    """Turns the engine's build stream into typed events. Feed it each decoded chunk; it keeps the
    current step, its output and its timing (``clock`` is injectable for tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._buffer = ""
        self._step: tuple[int, int, str] | None = None
        self._step_start = 0.0
        self._cached = False
        self._layer = ""
        self._output: deque[str] = deque(maxlen=LAST_LINES)
        self._warnings: set[str] = set()
        self._stages: list[_Stage] = []
        self.steps: list[StepFinished] = []
        self.image_id = ""
        self.container_id = ""  # the intermediate container of the running step, if any
        self.failed: BuildFailed | None = None

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    @property
    def current_step(self) -> int | None:
        return self._step[0] if self._step else None

    def stages(self) -> tuple[StageSummary, ...]:
        return tuple(StageSummary(s.index, s.name, s.base, s.steps, s.cached, round(s.seconds, 3), s.image_id)
                     for s in self._stages)

    def feed(self, chunk: Mapping[str, object]) -> list[BuildEvent]:
        events: list[BuildEvent] = []
        if "stream" in chunk:
            self._buffer += str(chunk["stream"])
            while "\n" in self._buffer:
                line, self._buffer = self._buffer.split("\n", 1)
                events += self._line(line)
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and aux.get("ID"):
            events += self._finish_step()
            self.image_id = str(aux["ID"])
            if self._stages:
                self._stages[-1].image_id = self.image_id
                events.append(StageFinished(self._stages[-1].name, self.image_id))
        if "error" in chunk or "errorDetail" in chunk:
            events += self._error(chunk)
        return events

    def finish(self) -> list[BuildEvent]:
        """The stream ended: flush the last partial line and close the running step."""
        events: list[BuildEvent] = []
        if self._buffer:
            events += self._line(self._buffer)
            self._buffer = ""
        return events + self._finish_step()

    def _line(self, raw: str) -> list[BuildEvent]:
        line = clean_line(raw)
        if not line:
            return []
        m = _STEP.match(line)
        if m:
            events = self._finish_step()
            step, total, instruction = int(m.group(1)), int(m.group(2)), m.group(3).strip()
            if instruction.split(None, 1)[0].upper() == "FROM":
                words = instruction.split()
                name = words[3] if len(words) >= 4 and words[2].lower() == "as" else str(len(self._stages))
                self._stages.append(_Stage(len(self._stages), name, words[1] if len(words) > 1 else ""))
            self._step = (step, total, instruction)
            self._step_start = self._clock()
            self._cached, self._layer = False, ""
            self._output.clear()
            self.container_id = ""
            return [*events, StepStarted(step, total, instruction, self._stage_name())]
        if line == " ---> Using cache":
            self._cached = True
            return []
        m = _RUNNING.match(line)
        if m:
            self.container_id = m.group(1)
            return []
        m = _LAYER.match(line)
        if m:
            self._layer = m.group(1)
            return []
        if line.startswith(" ---> [Warning]"):
            text = line[len(" ---> [Warning]"):].strip()
            if text in self._warnings:
                return []
            self._warnings.add(text)
            return [StepOutput(self.current_step or 0, f"warning: {text}", warning=True)]
        if line.startswith(("Removing intermediate container", "Successfully tagged")):
            return []
        m = re.match(r"^Successfully built ([0-9a-f]+)$", line)
        if m:
            self.image_id = self.image_id or m.group(1)
            return []
        self._output.append(line)
        return [StepOutput(self.current_step or 0, line)]

    def _stage_name(self) -> str:
        return self._stages[-1].name if self._stages else ""

    def _finish_step(self) -> list[BuildEvent]:
        if self._step is None:
            return []
        step, total, instruction = self._step
        seconds = max(self._clock() - self._step_start, 0.0)
        done = StepFinished(step, total, instruction, self._stage_name(), round(seconds, 3), self._cached,
                            self._layer)
        self.steps.append(done)
        if self._stages:
            st = self._stages[-1]
            st.steps += 1
            st.cached += int(self._cached)
            st.seconds += seconds
        self._step = None
        self.container_id = ""
        return [done]

    def _error(self, chunk: Mapping[str, object]) -> list[BuildEvent]:
        detail = chunk.get("errorDetail")
        message = str(chunk.get("error") or (detail.get("message") if isinstance(detail, Mapping) else "") or
                      "the build failed")
        events: list[BuildEvent] = []
        if self._buffer:
            events += self._line(self._buffer)
            self._buffer = ""
        step, total, instruction = self._step if self._step else (None, None, "")
        self.failed = BuildFailed(clean_line(message), step, total, instruction, tuple(self._output),
                                  round(self.elapsed, 3), tuple(self.steps))
        self._step = None
        return [*events, self.failed]
