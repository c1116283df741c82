"""The resumable progress file the wizard reads: steps in order, values round-trip, owner-only file."""

from __future__ import annotations

from pathlib import Path

from console.deploy.progress import STEPS, ProgressStore

from .value_sets import values


def test_progress_marks_steps_and_resumes(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path)
    v = values("pools")
    progress = store.start("ctx/with:odd chars", v, None)
    assert progress.next_step == "preflight" and progress.step is None
    for step in ("preflight", "render", "diff"):
        progress.mark(step)
    progress.error = "dry-run: forbidden"
    path = store.save(progress)
    assert path.name == "ctx_with_odd_chars--llm-demo--claude-inference.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = store.load("ctx/with:odd chars", "llm-demo", "claude-inference")
    assert loaded is not None and loaded.completed == ["preflight", "render", "diff"]
    assert loaded.next_step == "dry-run" and loaded.error == "dry-run: forbidden"
    assert loaded.load_values() == v
    loaded.mark("render")  # going back: the steps after it are to be done again
    assert loaded.completed == ["preflight", "render"] and loaded.error is None
    for step in STEPS:
        loaded.mark(step)
    assert loaded.next_step is None
    assert [p.name for p in store.all()] == ["claude-inference"]
    store.clear("ctx/with:odd chars", "llm-demo", "claude-inference")
    assert store.all() == []
