"""Wires the sandbox together: listeners, scenario, controllers, simulation, kubeconfig.

:class:`Sandbox` runs on the caller's asyncio loop (``llmctl sandbox``); :class:`SandboxThread`
runs one on a private loop in a daemon thread (``llmctl --sandbox`` and the test suite), so the
console reaches it over real HTTP exactly as it reaches a real cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from .api_tls import ClientCa, TlsMaterial
from .auth import Authenticator, TokenIssuer
from .context import SandboxConfig, SandboxContext
from .kubeconfig import write_kubeconfig

T = TypeVar("T")


@dataclass(frozen=True)
class ReadyInfo:
    """What ``llmctl sandbox`` prints when ready (tokens are only in the kubeconfig file)."""

    api: str
    kubeconfig: str
    dcgm: str
    vllm: str
    registry: str
    extras: dict[str, Any] = field(default_factory=dict)
    token_issuer: str = ""  # the 0600 file an exec plugin reads to mint short-lived tokens (TokenIssuer)
    client_ca: str = ""  # the CA that signs client certificates the API accepts

    def event(self) -> dict[str, Any]:
        return {
            "event": "ready",
            "api": self.api,
            "kubeconfig": self.kubeconfig,
            "metrics": {"dcgm": self.dcgm, "vllm": self.vllm},
            "registry": self.registry,
        }


async def _listen(app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
                  ) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, bound


class Sandbox:
    """A simulated GPU cluster served on loopback. Start and stop it on one asyncio loop."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.ctx: SandboxContext | None = None
        self.auth = Authenticator.create()
        self.info: ReadyInfo | None = None
        self._runners: list[web.AppRunner] = []
        self._controllers: Any = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.client_ca: ClientCa | None = None

    async def start(self) -> ReadyInfo:
        # Imported here so `import console.sandbox.server` stays cheap for the CLI's --help.
        from . import scenarios
        from .controllers.manager import ControllerManager
        from .exporters import make_dcgm_app, make_vllm_app
        from .registry import make_registry_app
        from .sim import Simulation

        cfg = self.config
        # The registry's port must be known before the scenario names images on it.
        holder: dict[str, SandboxContext] = {}
        reg_app = make_registry_app(_LazyContext(holder))
        reg_runner, reg_port = await _listen(reg_app, cfg.host, 0)
        self._runners.append(reg_runner)
        ctx = SandboxContext.create(cfg, registry_host=f"{cfg.host}:{reg_port}")
        holder["ctx"] = ctx
        self.ctx = ctx

        scenarios.build(ctx)
        ctx.sim = Simulation(ctx)
        ctx.sim.start()
        self._controllers = ControllerManager(ctx)
        self._controllers.start()

        from .api import make_app
        from .api_authn import use_client_certificates
        from .api_tls import self_signed
        from .kubeconfig import read_credentials

        # HTTPS because client-go (kubectl, k9s) sends a kubeconfig's token only to https:// servers.
        # A sandbox restarted on the same --kubeconfig keeps its tokens and certificate, so running
        # consoles and kubectl reconnect to it as to a restarted API server.
        self._tmpdir = tempfile.TemporaryDirectory(prefix="llmctl-sandbox-")
        tls_dir = Path(f"{cfg.kubeconfig}.tls") if cfg.kubeconfig else Path(self._tmpdir.name) / "tls"
        kept = TlsMaterial(tls_dir / "sandbox-api.crt", tls_dir / "sandbox-api.key")
        earlier = read_credentials(cfg.kubeconfig) if cfg.kubeconfig else None
        if earlier is not None and kept.cert_path.exists() and kept.key_path.exists():
            self.auth, tls = earlier, kept
        else:
            tls = self_signed(tls_dir, host=cfg.host)
        # What else a real API server accepts: client certificates signed by its client CA, and short-lived
        # tokens such as exec plugins fetch (the plugin mints them with the secret in the issuer file; a
        # restarted sandbox has a new secret, so earlier tokens get a 401 and the plugin runs again).
        self.client_ca = ClientCa.ensure(tls_dir)
        self.auth.issuer = TokenIssuer.create(cfg.exec_token_ttl)
        issuer_path = self.auth.issuer.save(tls_dir / "exec-token-issuer.json")
        api_app = use_client_certificates(make_app(ctx, self.auth))
        api_runner, api_port = await _listen(api_app, cfg.host, cfg.port, tls.server_context(self.client_ca.cert_path))
        dcgm_runner, dcgm_port = await _listen(make_dcgm_app(ctx), cfg.host, 0)
        vllm_runner, vllm_port = await _listen(make_vllm_app(ctx), cfg.host, 0)
        self._runners += [api_runner, dcgm_runner, vllm_runner]

        api_url = f"https://{cfg.host}:{api_port}"
        kubeconfig = Path(cfg.kubeconfig) if cfg.kubeconfig else Path(self._tmpdir.name) / "kubeconfig"
        write_kubeconfig(kubeconfig, api_url, self.auth, ca_pem=tls.ca_pem)
        self.info = ReadyInfo(
            api=api_url,
            kubeconfig=str(kubeconfig),
            dcgm=f"http://{cfg.host}:{dcgm_port}/metrics",
            vllm=f"http://{cfg.host}:{vllm_port}/metrics",
            registry=f"http://{cfg.host}:{reg_port}",
            token_issuer=str(issuer_path),
            client_ca=str(self.client_ca.cert_path),
        )
        return self.info

    def rotate_token_issuer(self) -> None:
        """A new signing secret for exec-plugin tokens (written to the issuer file): every token issued so far
        is refused from now on, as when a cloud revokes a session; a plugin run afterwards gets a good one."""
        assert self.info is not None, "sandbox not started"
        issuer = TokenIssuer.create(self.config.exec_token_ttl)
        issuer.save(self.info.token_issuer)
        self.auth.issuer = issuer

    def client_certificate(self, user: str, groups: tuple[str, ...] = (),
                           directory: str | Path | None = None) -> TlsMaterial:
        """A client certificate the API accepts as ``user`` (CN) in ``groups`` (O), and its key."""
        assert self.client_ca is not None, "sandbox not started"
        return self.client_ca.issue(user, groups, directory)

    async def stop(self) -> None:
        if self._controllers is not None:
            await self._controllers.stop()
        if self.ctx is not None and self.ctx.sim is not None:
            await self.ctx.sim.stop()
        for runner in reversed(self._runners):
            with contextlib.suppress(Exception):
                await runner.cleanup()
        self._runners.clear()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None


class _LazyContext:
    """Stands in for the context while the registry listener is bound before the context exists."""

    def __init__(self, holder: dict[str, SandboxContext]) -> None:
        self._holder = holder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._holder["ctx"], name)


class SandboxThread:
    """A :class:`Sandbox` on its own loop in a daemon thread."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.sandbox = Sandbox(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="llmctl-sandbox", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def info(self) -> ReadyInfo:
        assert self.sandbox.info is not None, "sandbox not started"
        return self.sandbox.info

    @property
    def ctx(self) -> SandboxContext:
        assert self.sandbox.ctx is not None, "sandbox not started"
        return self.sandbox.ctx

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.sandbox.start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.sandbox.stop())
        self.loop.close()

    def start(self, timeout: float = 30.0) -> ReadyInfo:
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError("sandbox did not become ready")
        if self._error is not None:
            raise RuntimeError(f"sandbox failed to start: {self._error}") from self._error
        return self.info

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the sandbox loop (the store is single-threaded) and return its result."""

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
