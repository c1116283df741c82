"""Lint an image build before it runs (and its size after), each finding with the reason it matters.

The rules are plain functions over a parsed Dockerfile, the context's file list and the tags, so they
are unit-tested on crafted contexts; ``lint_context`` only reads a folder and calls them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from console.builds.model import ImageInfo, LintFinding, Severity, layer_instruction
from console.builds.parse import Dockerfile, Instruction, Stage, parse_dockerfile
from console.core.units import decimal_size

ARTICLE = ("the source article keeps the model weights on a volume (VOLUME /models, a PersistentVolumeClaim "
           "in Kubernetes) and its image went from 8.3 GB to 2.1 GB")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".onnx", ".h5", ".msgpack",
                   ".tflite", ".engine", ".plan", ".nemo")
WEIGHT_DIRS = {"models", "model", "weights", "checkpoints", "ckpt", "hf_cache", "huggingface"}
DEPENDENCY_FILES = re.compile(
    r"^(requirements[\w.-]*\.(txt|in)|constraints[\w.-]*\.txt|pyproject\.toml|setup\.(py|cfg)|poetry\.lock|uv\.lock|"
    r"pipfile(\.lock)?|environment[\w.-]*\.ya?ml|conda[\w.-]*\.ya?ml|package(-lock)?\.json|yarn\.lock|"
    r"pnpm-lock\.yaml|go\.(mod|sum)|cargo\.(toml|lock))$", re.IGNORECASE)
INSTALL = re.compile(
    r"\b(pip3?(\.\d+)?\s+install|python[\d.]*\s+-m\s+pip\s+install|uv\s+pip\s+install|uv\s+sync|poetry\s+install|"
    r"pipenv\s+(install|sync)|conda\s+(env\s+)?(install|create|update)|mamba\s+install|micromamba\s+install|"
    r"npm\s+(ci|install)|yarn\s+install|apt-get\s+install|apt\s+install|apk\s+add)\b")
CUDA_FAMILIES = ("nvidia/cuda", "pytorch/pytorch", "nvidia/pytorch", "vllm/vllm-openai", "text-generation-inference",
                 "nvidia/tritonserver", "nvidia/tensorrt", "nvidia/tensorrt-llm", "tensorflow/tensorflow")
CONTEXT_WALK_LIMIT = 50_000  # files looked at in a context; a bigger context is itself the problem
DEFAULT_SIZE_LIMIT_GB = 8.0


# ---- references (tags) ----------------------------------------------------------------------------------
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DOMAIN = re.compile(r"^(localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*"
                     r"[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d+)?$")


def split_reference(reference: str) -> tuple[str, str]:
    """``registry:5000/llm/app:v1`` → (``registry:5000/llm/app``, ``v1``); the tag is "" when absent."""
    ref = reference.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, ""


def validate_tag(reference: str) -> str | None:
    """Why ``reference`` is not a valid image name[:tag] (Docker's reference grammar), or None."""
    if not reference:
        return "empty image tag"
    if "@" in reference:
        return f"{reference!r}: a digest cannot be used as a build tag"
    name, tag = split_reference(reference)
    if reference.endswith(":"):
        return f"{reference!r}: empty tag after ':'"
    if tag and not _TAG.match(tag):
        return (f"{reference!r}: tag {tag!r} must be letters, digits, '_', '.', '-' "
                "(up to 128, not starting with '.' or '-')")
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _DOMAIN.match(parts[0]):
            return f"{reference!r}: {parts[0]!r} is not a valid registry host"
        parts = parts[1:]
    for part in parts:
        if not _COMPONENT.match(part):
            hint = " (must be lowercase)" if part.lower() != part else ""
            return f"{reference!r}: invalid repository name component {part!r}{hint}"
    if len(name) > 255:
        return f"{reference!r}: repository name longer than 255 characters"
    return None


# ---- .dockerignore ---------------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern (Go filepath.Match plus ``**``) as a regex over '/'-separated paths."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i)
            if end == -1:
                out += re.escape(c)
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$")


class DockerIgnore:
    """Which context paths the engine never sees. Last matching pattern wins; ``!`` re-includes; a
    pattern that matches a folder excludes everything under it."""

    def __init__(self, text: str | None) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in (text or "").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = os.path.normpath(line[1:].strip() if negate else line).lstrip("/")
            if line in ("", "."):
                continue
            self.rules.append((negate, _pattern_regex(line)))

    def ignored(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        result = False
        for negate, regex in self.rules:
            if any(regex.match(c) for c in candidates):
                result = not negate
        return result


# ---- the rules -------------------------------------------------------------------------------------------
def is_weight_path(path: str) -> bool:
    """A model-weights file or folder, by name: ``*.safetensors``, ``*.gguf``, …, or a ``models/`` folder."""
    clean = path.strip().rstrip("/").lower()
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if any(p in WEIGHT_DIRS for p in parts):
        return True
    return clean.endswith(WEIGHT_SUFFIXES)


def _built_stages(df: Dockerfile, target: str | None) -> list[Stage]:
    """The stages whose layers end up in the image: the target (or last) stage and the stages it is FROM."""
    if not df.stages:
        return []
    final = df.stage(target) if target else df.stages[-1]
    return df.chain(final or df.stages[-1])


def _under(path: str, source: str) -> bool:
    src = os.path.normpath(source).lstrip("/")
    return src in ("", ".") or path == src or path.startswith(src.rstrip("/") + "/")


def rule_weights(df: Dockerfile, files: Mapping[str, int], ignore: DockerIgnore,
                 target: str | None) -> list[LintFinding]:
    findings: list[LintFinding] = []
    sent = {p: s for p, s in files.items() if not ignore.ignored(p)}
    for stage in _built_stages(df, target):
        for ins in stage.instructions:
            if ins.keyword not in ("COPY", "ADD"):
                continue
            named = [s for s in ins.sources() if is_weight_path(s)]
            carried = {} if ins.flag("from") else {
                p: size for p, size in sent.items() if is_weight_path(p) and any(_under(p, s) for s in ins.sources())}
            if not named and not carried:
                continue
            what = ", ".join(named) if named else (
                f"{len(carried)} weight file(s), {decimal_size(sum(carried.values()))}: "
                + ", ".join(sorted(carried)[:3]) + (" …" if len(carried) > 3 else ""))
            findings.append(LintFinding(
                "weights-in-image", Severity.ERROR, f"line {ins.line}: {ins.keyword} puts model weights in the image "
                f"({what})",
                "weights in the image are pulled by every node on every cold start and re-pushed with each build; "
                f"{ARTICLE}. Mount them at /models instead and exclude them in .dockerignore.", ins.line))
    return findings


def rule_dockerignore(dockerignore: str | None) -> list[LintFinding]:
    if dockerignore is not None:
        return []
    return [LintFinding(
        "no-dockerignore", Severity.WARNING, "no .dockerignore in the build context",
        "the whole folder (.git, virtualenvs, model weights) is sent to the engine on every build and "
        "`COPY . .` puts it in the image; `llmctl build --init` writes one that keeps weights out")]


def rule_tags(tags: Sequence[str]) -> list[LintFinding]:
    if not tags:
        return [LintFinding(
            "tag-missing", Severity.WARNING, "no tag: the image is named only by its ID",
            "nothing can deploy or roll back to an untagged image; tag it with a version (-t repo/app:v1.2.0)")]
    return [LintFinding(
        "tag-latest", Severity.WARNING, f"{tag}: a moving tag ({split_reference(tag)[1] or 'no tag, so latest'})",
        "`latest` says nothing about which build a pod runs: a rollback may pull a different image, nodes cache "
        "stale copies, and Kubernetes pulls :latest on every start (imagePullPolicy Always); use a version tag")
        for tag in tags if split_reference(tag)[1] in ("", "latest")]


def _cuda_pinned(image: str) -> bool | None:
    """True/False for a CUDA-family base (pinned or not), None for an image of no known CUDA family."""
    name, tag = split_reference(image)
    if "@sha256:" in image:
        return True
    family = next((f for f in CUDA_FAMILIES if name == f or name.endswith("/" + f)), None)
    if family is None and "cuda" not in name.lower():
        return None
    if not tag or tag == "latest":
        return False
    if family == "nvidia/cuda" or (family is None and "cuda" in name.lower()):
        return bool(re.match(r"^\d+\.\d+", tag))
    if family in ("pytorch/pytorch", "tensorflow/tensorflow"):
        return bool(re.search(r"cuda\d+(\.\d+)?|cu\d{3}|-gpu", tag))
    return bool(re.search(r"\d", tag))  # vLLM, TGI, NGC images: a version tag fixes the CUDA they ship


def rule_cuda(df: Dockerfile, build_args: Mapping[str, str], target: str | None) -> list[LintFinding]:
    stages = _built_stages(df, target)
    names = {s.name.lower() for s in df.stages if s.name}
    findings: list[LintFinding] = []
    external = []
    for stage in stages:
        base = df.resolved_base(stage, build_args)
        if base.lower() in names or base == "scratch":
            continue
        external.append((stage, base))
        pinned = _cuda_pinned(base)
        if pinned is False:
            findings.append(LintFinding(
                "cuda-unpinned", Severity.WARNING, f"line {stage.line}: FROM {base} does not pin a CUDA version",
                "the CUDA in the image must match the nodes' driver (CUDA 12.2 needs driver ≥ 535.54.03); an unpinned "
                "base can move to a newer CUDA on a rebuild and crash with 'CUDA driver version is insufficient'. "
                "Pin it, e.g. nvidia/cuda:12.2.2-runtime-ubuntu22.04", stage.line))
    if external and all(_cuda_pinned(base) is None for _, base in external):
        stage, base = external[-1]
        findings.append(LintFinding(
            "cuda-unpinned", Severity.INFO, f"line {stage.line}: base {base} declares no CUDA version",
            "without a CUDA base the image carries no CUDA_VERSION, so the CUDA-versus-driver check cannot be made "
            "before a rollout; build FROM nvidia/cuda:<version> (the template's stage 1) for GPU serving", stage.line))
    return findings


def _is_code_copy(ins: Instruction) -> bool:
    if ins.keyword not in ("COPY", "ADD") or ins.flag("from"):
        return False
    return any(not DEPENDENCY_FILES.match(os.path.basename(os.path.normpath(s))) for s in ins.sources())


def _is_dependency_install(ins: Instruction) -> bool:
    if ins.keyword != "RUN" or not INSTALL.search(ins.args):
        return False
    # `pip install --no-deps .` after the code is the right pattern: it installs only the project itself.
    return not re.search(r"\bpip[\d.]*\s+install\b.*--no-deps", ins.args) or bool(re.search(r"\s-r\s", ins.args))


def rule_dependency_order(df: Dockerfile, target: str | None) -> list[LintFinding]:
    findings: list[tuple[int, LintFinding]] = []
    code_copied: dict[str, Instruction | None] = {}
    for stage in df.stages:
        parent = code_copied.get(stage.base.lower())
        copied: Instruction | None = parent
        for ins in stage.instructions:
            if _is_code_copy(ins):
                copied = copied or ins
            elif copied is not None and _is_dependency_install(ins):
                findings.append((stage.index, LintFinding(
                    "deps-after-code", Severity.WARNING,
                    f"line {ins.line}: dependencies are installed after the code is copied (line {copied.line})",
                    "any code change invalidates the cache of every later layer, so the dependencies reinstall on each "
                    "build; copy requirements.txt first, install, then copy the code (the source article's stage 2 "
                    "and 3)", ins.line)))
                break
        if stage.name:
            code_copied[stage.name.lower()] = copied
        code_copied[str(stage.index)] = copied
    built = {s.index for s in _built_stages(df, target)}
    return [f for index, f in findings if index in built]


def lint_dockerfile(dockerfile: Dockerfile, *, files: Mapping[str, int] | None = None,
                    dockerignore: str | None = None, tags: Sequence[str] = (),
                    build_args: Mapping[str, str] | None = None, target: str | None = None) -> list[LintFinding]:
    """Every pre-build rule. ``files`` maps context paths ('/'-separated, relative) to sizes;
    ``dockerignore`` is the file's text, or None when the context has none."""
    ignore = DockerIgnore(dockerignore)
    args = dict(build_args or {})
    findings = [
        *rule_weights(dockerfile, files or {}, ignore, target),
        *rule_dockerignore(dockerignore),
        *rule_tags(tags),
        *rule_cuda(dockerfile, args, target),
        *rule_dependency_order(dockerfile, target),
    ]
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(findings, key=lambda f: (order[f.severity], f.line or 0))


def context_files(context: Path, limit: int = CONTEXT_WALK_LIMIT) -> dict[str, int]:
    """Relative path → size of the context's files (names and sizes only; nothing is read)."""
    out: dict[str, int] = {}
    for root, dirs, names in os.walk(context):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(root, name)
            try:
                out[path.relative_to(context).as_posix()] = path.stat().st_size
            except OSError:
                continue
            if len(out) >= limit:
                return out
    return out


def lint_context(context: str | Path, dockerfile: str = "Dockerfile", tags: Sequence[str] = (),
                 build_args: Mapping[str, str] | None = None, target: str | None = None) -> list[LintFinding]:
    """Read a build context (its Dockerfile, .dockerignore and file list) and lint it.
    Raises FileNotFoundError when the Dockerfile is missing."""
    root = Path(context)
    text = (root / dockerfile).read_text(errors="replace")
    ignore_path = root / ".dockerignore"
    ignore = ignore_path.read_text(errors="replace") if ignore_path.is_file() else None
    return lint_dockerfile(parse_dockerfile(text), files=context_files(root), dockerignore=ignore, tags=tags,
                           build_args=build_args, target=target)


def lint_image_size(image: ImageInfo, limit_bytes: int | None) -> list[LintFinding]:
    """The after-build rule: the image is larger than the configured limit."""
    if not limit_bytes or image.size <= limit_bytes:
        return []
    top = ", ".join(f"{decimal_size(layer.size)} {layer_instruction(layer.created_by)[:60]}"
                    for layer in image.largest_layers[:3])
    return [LintFinding(
        "image-too-large", Severity.WARNING,
        f"{image.reference}: {decimal_size(image.size)} is over the limit of {decimal_size(limit_bytes)} "
        f"(largest: {top})",
        "every new node pulls the whole image before the pod can start, so size is cold-start time; "
        f"{ARTICLE}. Raise the limit with --max-size or image_size_limit_gb if this is intended.")]
