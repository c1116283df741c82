"""Frozen data for image builds, shared by the build service, the headless command and the Builds screen.

No I/O and no Docker import here: the screen and the lint rules use these without touching an engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BuildServiceError(Exception):
    """A build-side failure with a message a person can act on (never a traceback)."""


class DockerUnavailable(BuildServiceError):
    """The Docker Engine cannot be reached; the message says where we looked and how to point DOCKER_HOST."""


class ImageNotFound(BuildServiceError):
    """No image by that reference on the engine."""


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class LintFinding:
    """One lint result: what is wrong, why it matters, and where (Dockerfile line, when there is one)."""

    rule: str  # "weights-in-image", "no-dockerignore", "tag-latest", "tag-missing", "cuda-unpinned", ...
    severity: Severity
    message: str
    reason: str
    line: int | None = None


@dataclass(frozen=True)
class BuildRequest:
    """What to build: a context folder, its Dockerfile (relative to the context), tags and options."""

    context: str
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    target: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    no_cache: bool = False


# ---- streamed build events ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepStarted:
    step: int
    total: int
    instruction: str  # "RUN pip install -r requirements.txt"
    stage: str  # the stage's name ("deps") or its index ("0"); "" for ARGs before the first FROM


@dataclass(frozen=True)
class StepOutput:
    """A line the step printed (RUN output), or an engine warning (shown once per build)."""

    step: int
    line: str
    warning: bool = False


@dataclass(frozen=True)
class StepFinished:
    step: int
    total: int
    instruction: str
    stage: str
    seconds: float
    cached: bool  # the engine answered "Using cache"
    layer_id: str = ""  # short image ID the step produced


@dataclass(frozen=True)
class StageFinished:
    """A stage of a multi-stage build is done: the engine reports its image ID."""

    stage: str
    image_id: str


@dataclass(frozen=True)
class StageSummary:
    index: int
    name: str  # "deps", or the index as text when the stage has no name
    base: str  # its FROM ("nvidia/cuda:12.2.2-runtime-ubuntu22.04", or another stage's name)
    steps: int
    cached: int
    seconds: float
    image_id: str = ""


@dataclass(frozen=True)
class Layer:
    """One entry of the image's history: a layer (size > 0) or a metadata-only step (size 0)."""

    id: str
    size: int  # bytes
    created_by: str  # the instruction that made it, as the engine recorded it
    created: int = 0  # unix time


def layer_instruction(created_by: str) -> str:
    """A history line as the Dockerfile instruction it came from: ``/bin/sh -c #(nop)  ENV X=1`` → ``ENV X=1``,
    ``/bin/sh -c pip install …`` → ``RUN pip install …``; an empty line is the base image's own layers."""
    text = " ".join(created_by.split())
    if not text:
        return "(base image)"
    for prefix in ("/bin/sh -c #(nop) ", "|"):
        if text.startswith(prefix):
            text = text[len(prefix):].strip()
            if prefix == "|":  # build-arg form: "|2 A=1 B=2 /bin/sh -c …"
                text = text.split("/bin/sh -c ", 1)[-1]
                return f"RUN {text}"
            return text
    if text.startswith("/bin/sh -c "):
        return "RUN " + text[len("/bin/sh -c "):]
    return text


@dataclass(frozen=True)
class ImageInfo:
    """An image read from metadata only (inspect + history), never by unpacking its layers."""

    reference: str
    id: str
    size: int
    created: str
    tags: tuple[str, ...]
    layers: tuple[Layer, ...]  # history order: newest first
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    user: str = ""
    volumes: tuple[str, ...] = ()
    architecture: str = ""

    @property
    def largest_layers(self) -> tuple[Layer, ...]:
        """Layers that hold data, biggest first (what dive users want to see first)."""
        return tuple(sorted((layer for layer in self.layers if layer.size > 0), key=lambda x: -x.size))

    @property
    def cuda_version(self) -> str:
        return dict(self.env).get("CUDA_VERSION", "")


@dataclass(frozen=True)
class BuildSucceeded:
    image_id: str
    tags: tuple[str, ...]
    seconds: float
    stages: tuple[StageSummary, ...]
    steps: tuple[StepFinished, ...]
    image: ImageInfo | None = None  # read right after the build; None if the engine could not say
    findings: tuple[LintFinding, ...] = ()  # rules that need the built image (size limit)


@dataclass(frozen=True)
class BuildFailed:
    """The engine refused or a step failed: its message, the failing step and its last output lines."""

    message: str
    step: int | None = None
    total: int | None = None
    instruction: str = ""
    last_lines: tuple[str, ...] = ()
    seconds: float = 0.0
    steps: tuple[StepFinished, ...] = ()


@dataclass(frozen=True)
class BuildCancelled:
    step: int | None
    seconds: float
    steps: tuple[StepFinished, ...] = ()


BuildEvent = StepStarted | StepOutput | StepFinished | StageFinished | BuildSucceeded | BuildFailed | BuildCancelled
BuildOutcome = BuildSucceeded | BuildFailed | BuildCancelled


# ---- push ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerProgress:
    """Progress of one layer's upload: status as the engine says it (Preparing, Pushing, Pushed, Layer
    already exists), bytes sent and the layer's size when known."""

    layer: str
    status: str
    current: int = 0
    total: int = 0


@dataclass(frozen=True)
class PushFinished:
    reference: str
    digest: str
    size: int
    seconds: float
    layers: tuple[LayerProgress, ...] = ()


@dataclass(frozen=True)
class PushFailed:
    reference: str
    message: str


PushEvent = LayerProgress | PushFinished | PushFailed


# ---- the list ---------------------------------------------------------------------------------------------
class BuildState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ImageSummary:
    """A local image for the Builds list (from the engine's image list: metadata only)."""

    reference: str
    id: str
    size: int
    created: int


@dataclass(frozen=True)
class BuildRecord:
    """One build of this session, as the list and the dashboard show it."""

    number: int
    request: BuildRequest
    state: BuildState
    started: float  # time.time()
    step: int = 0
    total: int = 0
    seconds: float = 0.0
    cached: int = 0
    message: str = ""  # the failure, or "" when fine
    image: ImageInfo | None = None
    pushed: tuple[str, ...] = field(default=())

    @property
    def tag(self) -> str:
        return self.request.tags[0] if self.request.tags else "(untagged)"
