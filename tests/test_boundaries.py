"""The domain packages (core, kube, actions, ..., sandbox) never import the UI (textual or screens)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("core", "kube", "actions", "metrics", "alerts", "incident", "deploy", "builds", "compat", "sandbox")
CORE = [ROOT / "console" / "audit.py", *(p for d in DOMAIN for p in (ROOT / "console" / d).rglob("*.py"))]
FORBIDDEN = ("textual", "screens")


def imported_modules(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
    return mods


def test_core_modules_exist() -> None:
    assert len(CORE) > 10, "the core package list looks wrong: nothing would be checked"


def test_core_never_imports_the_ui() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p) if m.split(".")[0] in FORBIDDEN)
        for p in CORE
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"core modules import the UI: {offenders}"


def test_checker_catches_a_ui_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from textual.app import App\nimport screens.dashboard\n")
    assert {"textual.app", "screens.dashboard"} <= imported_modules(bad)
