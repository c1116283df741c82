"""A private Docker Engine and registry for the build tests (and the Builds screenshot).

dockerd runs with its own socket, data-root and exec-root under a work folder and never touches the
host's networking (no iptables, no ip_forward, no bridge). Nothing can be pulled on these machines,
so the base image is made locally: a static busybox with a symlink per applet, imported as
``local/busybox:1`` (2 MB, ~0.3 s). The registry (Debian's docker-registry 2.8) listens on
127.0.0.1 at a free port; dockerd treats 127.0.0.0/8 as insecure, so no TLS is needed.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

BASE_IMAGE = "local/busybox:1"


@dataclass
class Engine:
    workdir: Path
    host: str  # unix:///…/docker.sock
    process: subprocess.Popen[bytes]
    base_image: str = BASE_IMAGE

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class Registry:
    address: str  # 127.0.0.1:PORT
    process: subprocess.Popen[bytes]


def _ping(sock_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(str(sock_path))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b"OK" in s.recv(4096)
    except OSError:
        return False


def start_engine(workdir: Path, dockerd: str = "dockerd", timeout: float = 30.0) -> Engine:
    """Start dockerd in a new session (its output in workdir/dockerd.log) and wait for /_ping."""
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "docker.sock"
    log = open(workdir / "dockerd.log", "wb")  # noqa: SIM115 - the child keeps writing to it
    process = subprocess.Popen(
        [dockerd, "--host", f"unix://{sock}", "--data-root", str(workdir / "data"), "--exec-root",
         str(workdir / "exec"), "--pidfile", str(workdir / "dockerd.pid"), "--iptables=false", "--ip6tables=false",
         "--ip-forward=false", "--bridge=none", "--storage-driver=overlay2"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    engine = Engine(workdir, f"unix://{sock}", process)
    deadline = time.monotonic() + timeout
    while not _ping(sock):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_engine(engine)
            raise RuntimeError(f"dockerd did not start:\n{engine.log_tail()}")
        time.sleep(0.05)
    return engine


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def stop_engine(engine: Engine, timeout: float = 20.0) -> None:
    """SIGTERM to our dockerd (it stops its containerd), then unmount whatever is left under the workdir."""
    if engine.process.poll() is None:
        engine.process.send_signal(signal.SIGTERM)
        try:
            engine.process.wait(timeout)
        except subprocess.TimeoutExpired:
            engine.process.kill()
            engine.process.wait(5)
    for point in _mounts_under(engine.workdir):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def base_rootfs_tar(busybox: str) -> bytes:
    """A tar of a minimal root filesystem: /bin/busybox with one symlink per applet, /etc/passwd, /etc/group."""
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for folder in ("bin", "etc", "tmp", "root"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, "bin/busybox")
        for applet in applets:
            if applet == "busybox":  # a link named like its target would replace the binary
                continue
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001::/app:/bin/sh\n"),
                           ("etc/group", "root:x:0:\napp:x:10001:\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_base_image(host: str, busybox: str, reference: str = BASE_IMAGE) -> str:
    """Import the busybox root filesystem as an image on the engine; returns its reference."""
    import docker

    repo, tag = reference.rsplit(":", 1)
    api = docker.APIClient(base_url=host, timeout=30, version="auto")
    try:
        api.import_image(src=base_rootfs_tar(busybox), repository=repo, tag=tag,
                         changes=["ENV PATH=/bin", 'CMD ["/bin/sh"]'])
    finally:
        api.close()
    return reference


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(workdir: Path, binary: str = "docker-registry", timeout: float = 15.0, *, storage: str = "",
                   storage_extra: str = "", extra: str = "") -> Registry:
    """docker-registry serving from workdir (or ``storage``) on 127.0.0.1:<free port>; waits for /v2/ to answer
    (401 counts: ``extra`` config, e.g. an ``auth:`` section, may ask for credentials)."""
    import urllib.error
    import urllib.request

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {storage or workdir / 'data'}\n{storage_extra}"
                      f"http:\n  addr: 127.0.0.1:{port}\n  secret: llmctl-test-only\n{extra}")
    log = open(workdir / "registry.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True,
                               env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
    log.close()
    deadline = time.monotonic() + timeout
    while True:
        try:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            except urllib.error.HTTPError as exc:
                if exc.code != 401:
                    raise
            return Registry(f"127.0.0.1:{port}", process)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_registry(Registry(f"127.0.0.1:{port}", process))
                raise RuntimeError("docker-registry did not start: " +
                                   (workdir / "registry.log").read_text(errors="replace")[-2000:]) from None
            time.sleep(0.05)


def stop_registry(registry: Registry) -> None:
    if registry.process.poll() is None:
        registry.process.terminate()
        try:
            registry.process.wait(10)
        except subprocess.TimeoutExpired:
            registry.process.kill()
            registry.process.wait(5)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
