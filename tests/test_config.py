"""Settings precedence and clear errors: flags > env > file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import ConfigError, load_settings


def test_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("namespace: from-file\ncontext: file-ctx\nreadonly: true\n")
    env = {"LLMCTL_NAMESPACE": "from-env"}
    s = load_settings({"context": "flag-ctx", "namespace": None}, env=env, path=cfg)
    assert (s.namespace, s.context, s.readonly) == ("from-env", "flag-ctx", True)
    assert load_settings({}, env={}, path=tmp_path / "missing.yaml").namespace is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("namespce: llm\n", "unknown setting 'namespce'"),
        ("readonly: maybe\n", "readonly must be true or false"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [\n", "not valid YAML"),
        ("sandbox_speed: -2\n", "sandbox_speed must be > 0"),
    ],
)
def test_bad_config_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings({}, env={}, path=cfg)


def test_bad_env_value() -> None:
    with pytest.raises(ConfigError, match="LLMCTL_READONLY"):
        load_settings({}, env={"LLMCTL_READONLY": "perhaps"}, path=Path("/nonexistent"))
