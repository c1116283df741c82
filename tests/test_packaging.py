"""The wheel ships assets/ and manifests/, and an installed (non-editable) copy finds them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_data_and_finds_it_when_installed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(ROOT)],
        check=True, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("llmctl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "console/_assets/llmctl.tcss" in names
    assert "console/_assets/cuda-drivers.yaml" in names
    assert any(n.startswith("console/_manifests/") for n in names)
    assert "screens/dashboard.py" in names
    packages = [p.parent for p in [*ROOT.glob("console/**/__init__.py"), *ROOT.glob("screens/**/__init__.py")]]
    missing = [str(p.relative_to(ROOT)) for p in packages if f"{p.relative_to(ROOT)}/__init__.py" not in names]
    assert not missing, f"packages left out of the wheel (add them to pyproject.toml): {missing}"
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "llmctl = console.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    code = ("import console.core.paths as p; print(p.asset('llmctl.tcss')); "
            "from console.compat.versions import driver_table; print(driver_table().min_driver('12.2.2'))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}).stdout.split()
    assert out[0].startswith(str(site)), f"asset found outside the installed copy: {out[0]}"
    assert out[1] == "535.104.05"


def test_version_and_help() -> None:
    run = [sys.executable, "-m", "console.cli"]
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, check=True, cwd=ROOT)
    assert version.stdout.startswith("llmctl 0.")
    helptext = subprocess.run([*run, "--help"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    for command in ("status", "sandbox"):
        assert command in helptext
    bad = subprocess.run([*run, "sandbox", "--speed", "-1"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "--speed must be > 0" in bad.stderr
