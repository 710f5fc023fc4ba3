"""The package as users get it: a wheel built from the source, as `pip wheel .` builds it (in
an isolated build environment with only pyproject.toml's build requirements), holds the
accelerator's compiled modules beside their .py files; LLMOBS_COMPILE=0 builds it pure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.accelerator import REPO, accelerated_modules


def build_wheel(tmp_path: Path, **env: str) -> tuple[zipfile.ZipFile, str]:
    source = tmp_path / "source"  # what the build reads, without compiled or cached files
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.egg-info")
    for package in ("llmobs_core", "llmobs_starlette", "llmobs_django", "llmobs_celery"):
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path / "dist"),
         str(source)], capture_output=True, text=True, timeout=600,
        env={**os.environ, **env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    return zipfile.ZipFile(wheel), result.stdout + result.stderr


@pytest.mark.timeout(600)
def test_a_wheel_built_from_the_source_holds_the_compiled_modules(tmp_path: Path):
    wheel, output = build_wheel(tmp_path)
    names = wheel.namelist()
    # mypyc's warnings mark code it compiles to mean something else (a class attribute it
    # drops, say): each is a difference between the compiled module and its .py file.
    assert not re.findall(r"llmobs_\w+/[\w/]+\.py:\d+: warning: .*", output)
    for module in accelerated_modules():
        stem = module.replace(".", "/")
        # The reference and fallback: the .py file, or for a module written in C, the typing
        # stub beside the Python module it speeds up (setup.py's NATIVE).
        assert f"{stem}.py" in names or f"{stem}.pyi" in names
        assert any(name.startswith(stem + ".") and name.endswith(".so") for name in names), (
            f"{module} is not compiled in the wheel")


@pytest.mark.timeout(600)
def test_llmobs_compile_0_builds_the_pure_python_package(tmp_path: Path):
    wheel, _ = build_wheel(tmp_path, LLMOBS_COMPILE="0")
    assert wheel.filename.endswith("-py3-none-any.whl")
    assert not [name for name in wheel.namelist() if name.endswith(".so")]
