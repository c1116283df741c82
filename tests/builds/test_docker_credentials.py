"""Docker credentials the way ``docker`` finds them (issue 13), against a real docker-registry with htpasswd auth
and our own dockerd: a ``docker-credential-*`` helper script written here into a folder on PATH, named by the
Docker config's ``credHelpers`` or ``credsStore`` (``$DOCKER_CONFIG``), answers ``get`` and ``list``. The
registry lookups (image facts without pulling), the push and a build whose base is in that registry use it;
a missing, failing or wrong helper says so; the password is never printed, logged or in a repr."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from console.builds.engine import DockerBuildService, push_hint
from console.builds.model import (
    BuildFailed,
    BuildRequest,
    BuildServiceError,
    BuildSucceeded,
    PushFailed,
    PushFinished,
)
from console.compat.credentials import CredentialError, DockerCredentials, docker_credentials
from console.compat.registry import RegistryClient
from tests.builds.conftest import write_context
from tests.conftest import need_tool
from tests.infra_docker import Engine, Registry, remove_tree, start_registry, stop_registry

USER, PASSWORD = "bob", "pw-helper-4b1d-not-in-logs"
HELPER = "llmctltest"  # docker-credential-llmctltest
IMAGE_LINES = ['ENV CUDA_VERSION=12.2.2', 'LABEL ai.llmctl.cuda.arch-list="sm_86"']

HELPER_SCRIPT = '''#!{python}
"""A docker-credential helper (the docker-credential-helpers protocol) over a JSON file of server -> [user, secret]."""
import json, sys
store = json.load(open({store!r}))
with open({log!r}, "a") as log:
    log.write(sys.argv[1] + "\\n")
if sys.argv[1] == "get":
    server = sys.stdin.read().strip()
    if store.get("fail"):
        print(store["fail"])
        sys.exit(1)
    if server not in store["creds"]:
        print("credentials not found in native keychain")
        sys.exit(1)
    user, secret = store["creds"][server]
    print(json.dumps({{"ServerURL": server, "Username": user, "Secret": secret}}))
elif sys.argv[1] == "list":
    print(json.dumps({{server: user for server, (user, _) in store["creds"].items()}}))
else:
    sys.exit(1)
'''


@pytest.fixture(scope="module")
def helper_registry(docker_engine: Engine) -> Iterator[Registry]:
    """A docker-registry with htpasswd (bcrypt) Basic auth for USER/PASSWORD, empty at first."""
    binary = need_tool("docker-registry")
    workdir = Path(tempfile.mkdtemp(prefix="llmctl-reg-helper-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt as _crypt

        hashed = _crypt.crypt(PASSWORD, _crypt.METHOD_BLOWFISH)
    (workdir / "htpasswd").write_text(f"{USER}:{hashed}\n")
    reg = start_registry(workdir, binary,
                         extra=f"auth:\n  htpasswd:\n    realm: llmctl-helper\n    path: {workdir}/htpasswd\n")
    try:
        yield reg
    finally:
        stop_registry(reg)
        remove_tree(workdir)


class Helper:
    """The helper script, its store, the calls it saw, and a Docker config naming it."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin, self.config_dir = root / "bin", root / "docker-config"
        self.bin.mkdir()
        self.config_dir.mkdir()
        self.store, self.log = root / "store.json", root / "calls.log"
        self.log.write_text("")
        self.set({})
        script = self.bin / f"docker-credential-{HELPER}"
        script.write_text(HELPER_SCRIPT.format(python=sys.executable, store=str(self.store), log=str(self.log)))
        script.chmod(0o755)
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("DOCKER_CONFIG", str(self.config_dir))

    def set(self, creds: dict[str, tuple[str, str]], fail: str = "") -> None:
        self.store.write_text(json.dumps({"creds": creds, "fail": fail}))

    def config(self, doc: dict) -> None:
        (self.config_dir / "config.json").write_text(json.dumps(doc))

    def calls(self) -> list[str]:
        return self.log.read_text().split()

    def off_path(self) -> None:
        self.monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                                        if p != str(self.bin)))


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Helper:
    return Helper(tmp_path, monkeypatch)


def build_local(engine: Engine, ref: str) -> None:
    dk = docker.DockerClient(base_url=engine.host, timeout=60)
    try:
        dockerfile = "\n".join([f"FROM {engine.base_image}", *IMAGE_LINES]) + "\n"
        dk.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=ref, rm=True)
    finally:
        dk.close()


def remove_local(engine: Engine, ref: str) -> None:
    dk = docker.DockerClient(base_url=engine.host, timeout=60)
    try:
        dk.images.remove(ref)
    finally:
        dk.close()


def text_of(events: list) -> str:
    return " ".join(repr(e) for e in events)


def test_cred_helpers_for_push_and_lookup(docker_engine: Engine, helper_registry: Registry, helper: Helper,
                                          builds: DockerBuildService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    address = helper_registry.address
    ref = f"{address}/creds/app:helpers"
    helper.config({"credHelpers": {address: HELPER}})
    build_local(docker_engine, ref)

    helper.set({})  # the helper knows nothing for this registry: anonymous, refused
    refused = list(builds.push(ref))[-1]
    assert isinstance(refused, PushFailed) and "docker login " + address in refused.message, refused
    anonymous = RegistryClient().facts(ref)
    assert anonymous.error == (f"registry {address} requires authentication and no credentials are configured "
                               f"for it (docker login {address})")

    helper.set({address: (USER, PASSWORD)})
    pushed = list(builds.push(ref))
    assert isinstance(pushed[-1], PushFinished), pushed[-1]
    assert helper.calls().count("get") >= 2, "docker-credential-llmctltest asked for the push"
    client = RegistryClient()
    facts = client.facts(ref)
    assert facts.error is None and facts.cuda == "12.2.2" and facts.arch_list == ("sm_86",)
    assert client.images(address) == [ref]

    helper.set({address: (USER, "wrong")})
    wrong = RegistryClient().facts(ref)
    assert wrong.error == (f"registry {address} rejected the credentials configured for it in credential helper "
                           f"docker-credential-{HELPER} (docker login {address})")
    wrong_push = list(builds.push(ref))[-1]
    assert isinstance(wrong_push, PushFailed)
    assert f"the registry refused the credentials from credential helper docker-credential-{HELPER}" in \
        wrong_push.message

    helper.set({address: (USER, PASSWORD)}, fail="the keyring is locked")
    failing = RegistryClient().facts(ref)
    assert failing.error == (f"registry {address} requires authentication and its credentials could not be read: "
                             f"credential helper docker-credential-{HELPER} failed: the keyring is locked")
    helper.set({address: (USER, PASSWORD)})
    helper.off_path()
    missing = RegistryClient().facts(ref)
    assert missing.error and missing.error.endswith(f"names credential helper docker-credential-{HELPER} for "
                                                    f"{address}, but it is not on PATH (install it, or remove "
                                                    "credsStore/credHelpers)"), missing.error
    no_push = list(builds.push(ref))
    assert len(no_push) == 1 and isinstance(no_push[0], PushFailed) and "not on PATH" in no_push[0].message

    everything = text_of([refused, *pushed, wrong_push, *no_push]) + repr(client) + str(facts) + str(wrong) + \
        str(failing) + str(missing) + caplog.text
    assert PASSWORD not in everything, "the password is never printed, logged or in a repr"


def test_creds_store_for_push_lookup_and_a_build_pulling_its_base(docker_engine: Engine,
                                                                  helper_registry: Registry, helper: Helper,
                                                                  builds: DockerBuildService, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    address = helper_registry.address
    base = f"{address}/creds/base:store"
    helper.config({"credsStore": HELPER})
    helper.set({address: (USER, PASSWORD)})
    build_local(docker_engine, base)
    pushed = list(builds.push(base))
    assert isinstance(pushed[-1], PushFinished), pushed[-1]
    facts = RegistryClient().facts(base)
    assert facts.error is None and facts.cuda == "12.2.2"

    remove_local(docker_engine, base)  # the build must pull its base, with the helper's credentials
    ctx = write_context(tmp_path / "ctx", f"FROM {base}\nENV APP=1\n")
    built = list(builds.start_build(BuildRequest(str(ctx), tags=("llmctl-test/on-private-base:v1",))))
    assert isinstance(built[-1], BuildSucceeded), built[-1]
    assert "list" in helper.calls(), "docker-py sends every stored credential with a build (credsStore list)"

    helper.off_path()
    no_build = list(builds.start_build(BuildRequest(str(ctx), tags=("llmctl-test/on-private-base:v2",))))
    assert len(no_build) == 1 and isinstance(no_build[0], BuildFailed)
    assert no_build[0].message == (f"cannot read the registry credentials the build sends: the Docker config "
                                   f"{helper.config_dir / 'config.json'} names credential helper "
                                   f"docker-credential-{HELPER} for every registry (credsStore), but it is not on "
                                   "PATH (install it, or remove credsStore/credHelpers)")
    assert PASSWORD not in text_of([*pushed, *built, *no_build]) + str(facts) + caplog.text


def test_auths_entries_through_docker_py(helper_registry: Registry, helper: Helper, docker_engine: Engine,
                                         builds: DockerBuildService) -> None:
    """``docker login`` without a helper: base64 ``auths`` entries. A broken one is skipped by the lookups (as the
    Docker CLI skips it); docker-py's own client refuses to start over it, and the engine adapter says why."""
    address = helper_registry.address
    ref = f"{address}/creds/app:auths"
    build_local(docker_engine, ref)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auths = {f"http://{address}/": {"auth": auth},
             "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:x").decode()}}
    helper.config({"auths": auths})
    pushed = list(builds.push(ref))
    assert isinstance(pushed[-1], PushFinished), pushed[-1]
    facts = RegistryClient().facts(ref)
    assert facts.error is None and facts.cuda == "12.2.2"
    creds = DockerCredentials().get(address)
    assert creds is not None and creds.username == USER and "auths" in creds.source
    assert PASSWORD not in repr(creds) and PASSWORD not in str(creds)
    assert helper.calls() == [], "no helper configured, none run"

    helper.config({"auths": {**auths, "broken.example": {"auth": "%%%"}}})
    assert docker_credentials(helper.config_dir / "config.json") == {address: (USER, PASSWORD),
                                                                      "docker.io": ("hub", "x")}
    assert RegistryClient().facts(ref).error is None, "the broken entry is skipped"
    with pytest.raises(BuildServiceError) as broken:
        DockerBuildService(docker_engine.host).version()
    assert str(broken.value) == (f"the Docker config {helper.config_dir / 'config.json'} has auths entries that "
                                 "cannot be decoded (broken.example): log in to them again (docker login) or "
                                 "remove them")


def test_identity_tokens_are_named_not_used(helper: Helper) -> None:
    helper.config({"auths": {"r.example": {"identitytoken": "refresh-me"}}})
    creds = DockerCredentials().get("r.example")
    assert creds is not None and creds.identity_token and "refresh-me" not in repr(creds)
    with pytest.raises(CredentialError, match="not on PATH"):
        helper.config({"credHelpers": {"r.example": "nope-not-installed"}})
        DockerCredentials().get("r.example")
    assert DockerCredentials().get("other.example") is None, "a helper for another registry is not asked"


def test_push_hint_names_where_the_credentials_came_from() -> None:
    assert push_hint("unauthorized: authentication required", "r.io/llm/app").endswith(
        "log in first (docker login r.io); llmctl uses the Docker config's credentials (auths, credsStore, "
        "credHelpers)")
    assert push_hint("denied", "llm/app", "credential helper docker-credential-pass").endswith(
        "the registry refused the credentials from credential helper docker-credential-pass (docker login docker.io)")
