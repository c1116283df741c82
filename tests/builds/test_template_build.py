"""The Dockerfile ``llmctl build --init`` writes, built for real by the suite's Docker Engine, carries what the
compatibility check reads — CUDA_VERSION and the ``ai.llmctl.cuda.arch-list`` label — so llmctl's own image is
judged OK or FAIL against a node, never UNKNOWN. No registry pulls are possible here: the nvidia/cuda base is
stood in for by busybox with stub apt-get/python (``CUDA_IMAGE`` is the template's own mirror argument), which
sets no CUDA_VERSION itself — the template must."""

from __future__ import annotations

from pathlib import Path

from console.builds.engine import DockerBuildService
from console.builds.model import BuildRequest, BuildSucceeded
from console.builds.template import init_project
from console.compat.facts import NodeFacts
from console.compat.registry import EngineImageSource
from console.compat.rules import Level, judge
from tests.infra_docker import Engine

STUB = "local/cuda-stub"
STUB_DOCKERFILE = """\
FROM local/busybox:1
COPY stub /bin/apt-get
COPY stub /bin/groupadd
COPY stub /bin/useradd
COPY python /bin/python3.10
RUN mkdir -p /etc/apt && touch /etc/apt/sources.list
"""
PYTHON_STUB = """\
#!/bin/sh
# python3.10 -m venv DIR: a venv whose pip installs nothing
if [ "$2" = venv ]; then mkdir -p "$3/bin" && cp /bin/apt-get "$3/bin/pip"; fi
exit 0
"""
A10G = NodeFacts("gpu-a10g", "NVIDIA-A10G", "535.104.05", "12.2", (8, 6), 23028, 4, 4, gfd=True)
P100 = NodeFacts("gpu-p100", "Tesla-P100-PCIE-16GB", "535.104.05", "12.2", (6, 0), 16384, 4, 4, gfd=True)
OLD_DRIVER = NodeFacts("gpu-old", "NVIDIA-A10G", "470.57.02", "11.4", (8, 6), 23028, 4, 4, gfd=True)


def _build(builds: DockerBuildService, request: BuildRequest) -> BuildSucceeded:
    events = list(builds.start_build(request))
    done = events[-1]
    assert isinstance(done, BuildSucceeded), done
    return done


def _stub_base(builds: DockerBuildService, root: Path) -> None:
    root.mkdir()
    (root / "Dockerfile").write_text(STUB_DOCKERFILE)
    for name, text in (("stub", "#!/bin/sh\nexit 0\n"), ("python", PYTHON_STUB)):
        (root / name).write_text(text)
        (root / name).chmod(0o755)
    _build(builds, BuildRequest(str(root), tags=(f"{STUB}:12.2.2-runtime-ubuntu22.04",)))


def test_an_image_built_from_the_template_is_judged_ok_or_fail_never_unknown(
        docker_engine: Engine, builds: DockerBuildService, tmp_path: Path) -> None:
    _stub_base(builds, tmp_path / "stub")
    app = tmp_path / "app"
    init_project(app)
    (app / "requirements.txt").write_text("vllm==0.5.0\n")
    (app / "app.py").write_text("print('serving')\n")
    ref = "llmctl-test/template:v1"
    done = _build(builds, BuildRequest(str(app), tags=(ref,), build_args=(("CUDA_IMAGE", STUB),)))
    assert [s.name for s in done.stages] == ["base", "deps", "runtime"]

    facts = EngineImageSource(docker_engine.host).facts(ref)  # what `llmctl check` reads of a local image
    assert facts.error is None and facts.problems == ()
    assert (facts.cuda, facts.cuda_from) == ("12.2.2", "CUDA_VERSION")
    assert facts.arch_from == "label ai.llmctl.cuda.arch-list"
    assert facts.arch_list == ("sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "compute_90")

    def level(node: NodeFacts) -> Level:
        verdicts = judge(facts, node)
        assert all(v.level is not Level.UNKNOWN for v in verdicts), verdicts
        return verdicts[0].level  # most severe first

    assert level(A10G) is Level.OK
    assert level(P100) is Level.FAIL  # compute capability 6.0: no kernel in the list
    assert level(OLD_DRIVER) is Level.FAIL  # CUDA 12.2 on a 470 driver

    # The arch list is a build argument: built for Ampere only, the image says so.
    ampere = _build(builds, BuildRequest(str(app), tags=("llmctl-test/template:ampere",),
                                         build_args=(("CUDA_IMAGE", STUB), ("TORCH_CUDA_ARCH_LIST", "8.0 8.6"))))
    assert ampere.image_id != done.image_id
    narrow = EngineImageSource(docker_engine.host).facts("llmctl-test/template:ampere")
    assert narrow.arch_list == ("sm_80", "sm_86")
