"""Where the data files live, from a source checkout and from an installed wheel alike."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def _data_dir(package: str, folder: str) -> Path:
    # An installed wheel carries assets/ and manifests/ as console._assets / console._manifests
    # (see pyproject.toml); a source checkout has them at the top of the repository.
    try:
        found = resources.files(package)
        path = Path(str(found))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return _REPO / folder


def assets_dir() -> Path:
    return _data_dir("console._assets", "assets")


def manifests_dir() -> Path:
    return _data_dir("console._manifests", "manifests")


def asset(name: str) -> Path:
    path = assets_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"llmctl asset missing: {name} (looked in {path.parent})")
    return path
