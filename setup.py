"""Builds the extension culturespa._core with CMake (pip install . / -e .).

The CMake build is the project's one build; this file only runs it with the
right output folder and Python interpreter. Environment knobs:
  CULTURESPA_CMAKE_ARGS   extra arguments for the configure step
  CULTURESPA_BUILD_DIR    CMake build folder (default build/pip-<python tag>)
  CMAKE_BUILD_PARALLEL_LEVEL  compile jobs (default: all cores)
"""
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        output_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        tag = sysconfig.get_config_var("SOABI") or "py"
        build_dir = Path(os.environ.get("CULTURESPA_BUILD_DIR", ROOT / "build" / f"pip-{tag}"))
        build_dir.mkdir(parents=True, exist_ok=True)
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCULTURESPA_PYTHON_OUTPUT_DIR={output_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            "-DCULTURESPA_BUILD_TESTS=OFF",
            "-DCULTURESPA_BUILD_EXAMPLES=OFF",
        ]
        if _which("ninja"):
            configure += ["-G", "Ninja"]
        configure += _torch_prefix_args()
        configure += shlex.split(os.environ.get("CULTURESPA_CMAKE_ARGS", ""))
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_core", "-j", jobs],
                       check=True)


def _which(program: str):
    from shutil import which

    return which(program)


def _torch_prefix_args():
    """Points CMake at the LibTorch of the torch that this Python imports,
    unless it is Debian's (found without hints)."""
    try:
        import torch.utils
    except ImportError:
        return []
    prefix = getattr(torch.utils, "cmake_prefix_path", None)
    if not prefix or prefix.startswith("/usr/"):
        return []
    return [f"-DCMAKE_PREFIX_PATH={prefix}"]


setup(ext_modules=[CMakeExtension("culturespa._core")], cmdclass={"build_ext": CMakeBuild})
