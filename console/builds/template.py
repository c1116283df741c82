"""``llmctl build --init``: write the shipped three-stage Dockerfile and .dockerignore into a project folder.

The Dockerfile (assets/Dockerfile.template) runs as uid 10001 (the user llmctl's manifests run as), keeps
``CUDA_VERSION`` and labels the image ``ai.llmctl.cuda.arch-list`` from its ``TORCH_CUDA_ARCH_LIST`` build
argument — the two facts console/compat/facts.py reads — so ``llmctl check`` judges an image built from it OK or
FAIL on each node, never UNKNOWN."""

from __future__ import annotations

from pathlib import Path

from console.core.paths import asset

TEMPLATES = (("Dockerfile.template", "Dockerfile"), ("dockerignore.template", ".dockerignore"))


def init_project(folder: str | Path, force: bool = False) -> list[Path]:
    """Write Dockerfile and .dockerignore into ``folder`` (created if missing) and return their paths.

    Raises FileExistsError naming the files that exist, unless ``force``: a hand-tuned Dockerfile is
    never overwritten by accident.
    """
    root = Path(folder)
    targets = [(asset(src), root / dst) for src, dst in TEMPLATES]
    existing = [str(dst) for _, dst in targets if dst.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); use --force to overwrite")
    root.mkdir(parents=True, exist_ok=True)
    for src, dst in targets:
        dst.write_text(src.read_text())
    return [dst for _, dst in targets]
