"""`pip install .` and `pip install -e .` from a source checkout, in a fresh
venv on Debian's python3 with --system-site-packages, offline
(--no-build-isolation: build tools from Debian)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

IGNORED = shutil.ignore_patterns("build", "build-*", ".venv", ".git", "__pycache__",
                                 "*.so", "*.egg-info", ".pytest_cache")


def _run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory, repo_root):
    # The copy keeps the checkout's folder name and its build folder is
    # build/, so with CCACHE_BASEDIR every compile command matches the main
    # build's and ccache serves it.
    copy = tmp_path_factory.mktemp("pkg") / repo_root.name
    shutil.copytree(repo_root, copy, ignore=IGNORED)
    return copy


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    path = tmp_path_factory.mktemp("venv") / "venv"
    _run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(path)])
    return path / "bin" / "python"


def _env(copy: Path):
    env = dict(os.environ)
    env.update(CCACHE_BASEDIR=str(copy), CULTURESPA_BUILD_DIR=str(copy / "build"))
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs Debian's /usr/bin/python3")
def test_pip_install_then_editable(source_copy, venv, tmp_path):
    env = _env(source_copy)
    _run([str(venv), "-m", "pip", "install", "-q", "--no-build-isolation", str(source_copy)], env=env)
    out = _run([str(venv), "-c", "import culturespa; print(culturespa.__version__, culturespa.__file__)"],
               env=env, cwd=tmp_path)
    version, location = out.split()
    assert version.count(".") == 2
    assert "site-packages" in location
    assert (venv.parent / "culturespa").exists(), "console script not installed"
    _run([str(venv.parent / "culturespa"), "info"], env=env, cwd=tmp_path)

    _run([str(venv), "-m", "pip", "install", "-q", "--no-build-isolation", "-e", str(source_copy)],
         env=env)
    out = _run([str(venv), "-c", "import culturespa; print(culturespa.__file__)"], env=env, cwd=tmp_path)
    assert str(source_copy / "python" / "culturespa") in out
