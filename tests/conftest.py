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
