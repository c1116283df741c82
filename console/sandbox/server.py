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
    state: str = ""  # the state file (--state-dir), "" when the cluster is not persisted
    restored: bool = False  # the cluster was read back from the state file rather than built

    def event(self) -> dict[str, Any]:
        return {
            "event": "ready",
            "api": self.api,
            "kubeconfig": self.kubeconfig,
            "metrics": {"dcgm": self.dcgm, "vllm": self.vllm},
            "registry": self.registry,
            "state": {"file": self.state, "restored": self.restored} if self.state else None,
        }


class ListenError(OSError):
    """A port the sandbox was asked for cannot be had (the message says which, and why)."""

    def __init__(self, what: str, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, f"cannot listen on {host}:{port} for {what}: {cause.strerror or cause}")
        self.what, self.host, self.port = what, host, port

    def __str__(self) -> str:
        return str(self.strerror)


async def listen(app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None, *,
                 idle_timeout: float = 32.0, what: str = "the sandbox", shutdown_timeout: float = 10.0,
                 ) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on host:port (0: any free port) with the sandbox's connection limits: a connection
    without a complete request for ``idle_timeout`` seconds is closed (slow or unfinished headers, idle
    keep-alive); a request in progress, such as a watch, is never cut by it."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=idle_timeout,
                           shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise ListenError(what, host, port, e) from e
    return runner, runner.addresses[0][1]


async def _listen_preferring(app: web.Application, host: str, preferred: int | None,
                             ssl_context: ssl.SSLContext | None = None, *, idle_timeout: float,
                             what: str) -> tuple[web.AppRunner, int]:
    """The port used before a restart if it is still free, else any free port."""
    if preferred:
        with contextlib.suppress(ListenError):
            return await listen(app, host, preferred, ssl_context, idle_timeout=idle_timeout, what=what)
    return await listen(app, host, 0, ssl_context, idle_timeout=idle_timeout, what=what)


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
        self.ports: dict[str, int] = {}
        self._state: Any = None  # a state.StateDir with --state-dir
        self._memory: Any = None  # a memory.MemoryReleaser
        self._api_runner: web.AppRunner | None = None

    async def start(self) -> ReadyInfo:
        """Start everything; on failure whatever did start is stopped again and the error raised
        (ListenError for a port that cannot be had, state.StateError for an unusable --state-dir)."""
        try:
            return await self._start()
        except BaseException:
            await self.stop(save=False)
            raise

    async def _start(self) -> ReadyInfo:
        # Imported here so `import console.sandbox.server` stays cheap for the CLI's --help.
        from . import scenarios
        from .controllers.manager import ControllerManager
        from .exporters import make_dcgm_app, make_vllm_app
        from .memory import MemoryReleaser
        from .registry import make_registry_app
        from .sim import Simulation
        from .state import StateDir, apply_state, read_state

        cfg = self.config
        idle = cfg.idle_timeout
        saved = None
        if cfg.state_dir is not None:
            self._state = StateDir(Path(cfg.state_dir), cfg.state_interval)
            self._state.lock()
            saved = read_state(Path(cfg.state_dir))
        before = saved.ports if saved is not None else {}
        # The registry's port must be known before the scenario names images on it.
        holder: dict[str, SandboxContext] = {}
        reg_app = make_registry_app(_LazyContext(holder))
        reg_runner, reg_port = await _listen_preferring(reg_app, cfg.host, before.get("registry"), idle_timeout=idle,
                                                        what="the registry")
        self._runners.append(reg_runner)
        ctx = SandboxContext.create(cfg, registry_host=f"{cfg.host}:{reg_port}")
        holder["ctx"] = ctx
        self.ctx = ctx

        if saved is not None:
            apply_state(ctx, saved)  # the cluster as it was: no scenario is built
        else:
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
        server_tls = tls.server_context(self.client_ca.cert_path)
        if cfg.port:
            api_runner, api_port = await listen(api_app, cfg.host, cfg.port, server_tls, idle_timeout=idle,
                                                what="the API (--port)")
        else:
            api_runner, api_port = await _listen_preferring(api_app, cfg.host, before.get("api"), server_tls,
                                                            idle_timeout=idle, what="the API")
        self._api_runner = api_runner
        self._runners.append(api_runner)
        if cfg.metrics_port:  # fixed ports, so a Prometheus scraping them keeps working across restarts
            dcgm_runner, dcgm_port = await listen(make_dcgm_app(ctx), cfg.host, cfg.metrics_port, idle_timeout=idle,
                                                  what="the DCGM exporter (--metrics-port)")
            self._runners.append(dcgm_runner)
            vllm_runner, vllm_port = await listen(make_vllm_app(ctx), cfg.host, cfg.metrics_port + 1,
                                                  idle_timeout=idle, what="the vLLM exporter (--metrics-port + 1)")
        else:
            dcgm_runner, dcgm_port = await _listen_preferring(make_dcgm_app(ctx), cfg.host, before.get("dcgm"),
                                                              idle_timeout=idle, what="the DCGM exporter")
            self._runners.append(dcgm_runner)
            vllm_runner, vllm_port = await _listen_preferring(make_vllm_app(ctx), cfg.host, before.get("vllm"),
                                                              idle_timeout=idle, what="the vLLM exporter")
        self._runners.append(vllm_runner)
        self.ports = {"api": api_port, "registry": reg_port, "dcgm": dcgm_port, "vllm": vllm_port}
        if self._state is not None:
            self._state.start(ctx, self.ports, restored=saved is not None)
        self._memory = MemoryReleaser(lambda: ctx.store.released_bytes)
        self._memory.start()

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
            state=str(self._state.path) if self._state is not None else "",
            restored=saved is not None,
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

    async def stop(self, save: bool = True) -> None:
        """Stop serving and simulating; with --state-dir, write the final state (``save``) and let go of
        the directory. The API stops first, so nothing changes the cluster after the state is written."""
        if self._api_runner is not None:
            self._runners.remove(self._api_runner)
            with contextlib.suppress(Exception):
                await self._api_runner.cleanup()
            self._api_runner = None
        if self._controllers is not None:
            await self._controllers.stop()
            self._controllers = None
        if self.ctx is not None and self.ctx.sim is not None:
            await self.ctx.sim.stop()
        if self._memory is not None:
            await self._memory.stop()
            self._memory = None
        try:
            if self._state is not None:
                await self._state.stop(self.ctx if save else None, self.ports)
                self._state = None
        finally:
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
