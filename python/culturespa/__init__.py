"""culturespa: Self-Pluralising Culture Alignment for LLMs (CultureSPA).

The package re-exports the C++ core (``culturespa._core``) with Python
conveniences: keyword arguments, exceptions, progress bars, and ``logging``.
"""
# torch must be imported before the extension so that LibTorch's Python glue
# (libtorch_python) is initialised with the interpreter.
import torch as _torch  # noqa: F401

from . import _core
from ._core import (
    Cancelled,
    LogLevel,
    Progress,
    SentencePieceModel,
    build_info,
    num_threads,
    runtime_info,
    sentencepiece_available,
    sentencepiece_train,
    set_num_threads,
)
from ._logging import set_log_level
from .model import GgufFile, KVCache, Model, gguf_read, safetensors_read, safetensors_write
from ._progress import progress_bar
from .pipeline import (
    ContrastDetector,
    ContrastResult,
    FilterResult,
    QuestionAnswerer,
    QuestionFilter,
    QuestionGenerator,
    export_dataset,
)
from .text import IncrementalDecoder, Tokenizer, chat_render, register_chat_format
from .generator import Generator, Prefix
from .survey import (
    Culture,
    PromptMethod,
    Prompts,
    PromptTemplates,
    Question,
    Survey,
    SurveyPrompt,
    build_prompt,
    build_prompts,
    cultures_builtin,
    question_bank_load,
)
from .scoring import CultureScore, ScoreReport, SurveyScorer, answer_parse
from ._core import EvaluationMethod, EvaluationReport, SurveyEvaluator
from . import data

__version__: str = _core.__version__

_core.runtime_init()

__all__ = [
    "Cancelled",
    "ContrastDetector",
    "ContrastResult",
    "Culture",
    "CultureScore",
    "EvaluationMethod",
    "EvaluationReport",
    "FilterResult",
    "Generator",
    "GgufFile",
    "IncrementalDecoder",
    "KVCache",
    "LogLevel",
    "Model",
    "Prefix",
    "Progress",
    "PromptMethod",
    "PromptTemplates",
    "Prompts",
    "Question",
    "ScoreReport",
    "QuestionAnswerer",
    "QuestionFilter",
    "QuestionGenerator",
    "SentencePieceModel",
    "Survey",
    "SurveyPrompt",
    "SurveyEvaluator",
    "SurveyScorer",
    "Tokenizer",
    "__version__",
    "answer_parse",
    "build_info",
    "build_prompt",
    "build_prompts",
    "chat_render",
    "data",
    "cultures_builtin",
    "export_dataset",
    "gguf_read",
    "num_threads",
    "progress_bar",
    "question_bank_load",
    "register_chat_format",
    "runtime_info",
    "safetensors_read",
    "safetensors_write",
    "sentencepiece_available",
    "sentencepiece_train",
    "set_log_level",
    "set_num_threads",
]
