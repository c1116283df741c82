"""Where the data files live, from a source checkout and from an installed wheel alike."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # console/
_REPO = _PACKAGE.parent


def _data_dir(installed: str, folder: str) -> Path:
    # An installed wheel carries assets/ and manifests/ inside the package as console/_assets and
    # console/_manifests (see pyproject.toml); a source checkout has them at the repository's top.
    inside = _PACKAGE / installed
    return inside if inside.is_dir() else _REPO / folder


def assets_dir() -> Path:
    return _data_dir("_assets", "assets")


def manifests_dir() -> Path:
    return _data_dir("_manifests", "manifests")


def asset(name: str) -> Path:
    path = assets_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"llmctl asset missing: {name} (looked in {path.parent})")
    return path
