"""The package boundary: importing culturespa changes nothing global, the
committed _core.pyi is what the bindings generate, and old names warn."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    env.pop("CULTURESPA_NUM_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def test_import_leaves_torch_threads_alone():
    code = ("import torch; torch.set_num_threads(1); before = torch.get_num_threads(); "
            "import culturespa; print(before, torch.get_num_threads())")
    before, after = _run_python(code).split()
    assert before == after == "1"


def test_threads_are_set_by_an_explicit_call():
    code = "import torch, culturespa; culturespa.runtime_set_num_threads(2); print(torch.get_num_threads())"
    assert _run_python(code) == "2"


@pytest.mark.skipif(importlib.util.find_spec("pybind11_stubgen") is None,
                    reason="pybind11-stubgen (requirements-test.txt) is not installed")
def test_committed_stubs_are_the_generated_ones():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "stubs.py"), "--check"], capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "python")))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.parametrize("module, old, new", [
    ("culturespa", "build_prompt", "prompt_build"),
    ("culturespa", "build_prompts", "prompt_build_all"),
    ("culturespa", "export_dataset", "dataset_export"),
    ("culturespa", "register_chat_format", "chat_format_register"),
    ("culturespa", "FilterResult", "QuestionFilterResult"),
    ("culturespa", "set_num_threads", "runtime_set_num_threads"),
    ("culturespa", "num_threads", "runtime_num_threads"),
    ("culturespa.survey", "generation_prompt", "prompt_generate"),
])
def test_old_names_warn_and_give_the_new_object(module, old, new):
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=new):
        value = getattr(mod, old)
    assert value is getattr(mod, new)
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(mod, "no_such_name")


def test_old_gguf_convert_helpers_warn_and_call_the_core():
    import numpy as np

    from culturespa import gguf_convert

    stored = np.array([[0.0], [2.0], [1.0], [3.0]], dtype=np.float32)  # one head, rotation pairs interleaved
    with pytest.warns(DeprecationWarning, match="culturespa.gguf_qk_unpermute"):
        unpermute = gguf_convert.qk_permute_reverse
    assert unpermute(stored, 1)[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.warns(DeprecationWarning, match="culturespa.gguf_hf_tensor_name"):
        assert gguf_convert.GGUF_TENSOR_NAMES["output.weight"] == "lm_head.weight"


def test_every_exported_class_is_the_core_class():
    import culturespa
    from culturespa import _core

    python_only = {"Prompts", "progress_bar"}  # Python conveniences with no C++ class behind them
    for name in culturespa.__all__:
        value = getattr(culturespa, name)
        if isinstance(value, type) and name not in python_only:
            assert value is getattr(_core, name, None), name
