"""Settings: command-line flags > environment (LLMCTL_*) > config file (XDG) > defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console.core.yamlsafe import YamlError, safe_load


class ConfigError(ValueError):
    """A config file or environment value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    readonly: bool = False
    sandbox: bool = False
    sandbox_speed: float = 1.0
    sandbox_scenario: str = "default"
    prometheus_url: str | None = None
    # Prometheus credentials: sent only as request headers; repr=False keeps them out of reprs and logs.
    prometheus_token: str | None = field(default=None, repr=False)
    prometheus_username: str | None = None
    prometheus_password: str | None = field(default=None, repr=False)
    prometheus_insecure: bool = False  # skip TLS verification (self-signed in-cluster Prometheus)
    alertmanager_url: str | None = None  # Alertmanager v2 API: its alerts (with silences) and `llmctl silence`
    alertmanager_token: str | None = field(default=None, repr=False)  # same rules as the Prometheus credentials
    alertmanager_username: str | None = None
    alertmanager_password: str | None = field(default=None, repr=False)
    alertmanager_insecure: bool = False
    gpu_refresh: float = 15.0  # seconds; DCGM collects every 30 s by default, faster re-reads the same data
    latency_refresh: float = 5.0  # seconds; never faster than the scrape interval either
    # Built-in alert rules' thresholds (used when Prometheus has no rule of the same name):
    alert_fb_percent: float = 80.0  # GPUFramebufferHigh: GPU framebuffer used %
    alert_p99_ms: float = 500.0  # LLMLatencyP99High: a Deployment's p99 latency, ms
    alert_kv_percent: float = 90.0  # LLMKVCacheHigh: KV-cache used %
    alert_queue_waiting: float = 10.0  # LLMQueueWaitingHigh: requests waiting
    builtin_rules: bool = True  # evaluate llmctl's own alert rules from the metrics source (see README)
    alerts_refresh: float = 15.0  # seconds between reads of Prometheus/Alertmanager alerts and built-in rules
    audit_log: str | None = None
    docker_host: str | None = None  # Docker Engine for builds; None: DOCKER_HOST, else the local socket
    image_size_limit_gb: float = 8.0  # build lint: images above this are flagged (GB, decimal)


_BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "llmctl" / "config.yaml"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "llmctl"


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in _BOOL:
            raise ConfigError(f"{source}: {name} must be true or false, not {value!r}")
        return _BOOL[text]
    if kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {name} must be a number, not {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{source}: {name} must be > 0, not {value!r}")
        return number
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise ConfigError(f"{source}: {name} must be a string, not {type(value).__name__}")
    return str(value)


def _from_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = safe_load(path.read_text(encoding="utf-8"), str(path)) or {}
    except YamlError as exc:
        raise ConfigError(str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a YAML config was expected)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    known = {f.name for f in fields(Settings)}
    out = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
        out[name] = _coerce(name, value, str(path))
    return out


def _from_env(env: dict[str, str]) -> dict[str, Any]:
    out = {}
    for f in fields(Settings):
        key = "LLMCTL_" + f.name.upper()
        if key in env:
            out[f.name] = _coerce(f.name, env[key], f"environment {key}")
    return out


def load_settings(
    flags: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    path: Path | None = None,
) -> Settings:
    """Merge the sources; flags that are None (not given) do not override."""
    settings = Settings()
    settings = replace(settings, **_from_file(path or config_path()))
    settings = replace(settings, **_from_env(dict(os.environ if env is None else env)))
    given = {k: v for k, v in (flags or {}).items() if v is not None and k in {f.name for f in fields(Settings)}}
    settings = replace(settings, **given)
    for name in ("prometheus_url", "alertmanager_url"):
        _check_url(name, getattr(settings, name))
    return settings


def _check_url(name: str, url: str | None) -> None:
    """An http(s)://host[:port][/path] URL, or a ConfigError naming the setting (never echoing a password)."""
    if url is None:
        return
    what = name.removesuffix("_url").capitalize()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{what} URL is malformed ({exc}): expected http(s)://host:port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} URL must look like http(s)://host:port, not {parts.scheme or 'no scheme'}"
                          f"://{parts.hostname or ''}")
