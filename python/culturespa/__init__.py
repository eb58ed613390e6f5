"""culturespa: Self-Pluralising Culture Alignment for LLMs (CultureSPA).

The package re-exports the C++ core (``culturespa._core``): each C++ class is
bound once, with its docstring, keyword defaults from its options struct and
typed results. Python adds what is Python's: ``logging``, progress bars,
pandas DataFrames, plots and the command line. Importing the package changes
nothing global: LibTorch's thread count is set when a ``Model`` is created
(or by ``runtime_set_num_threads``).
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
    file_write_atomic,
    runtime_info,
    runtime_init,
    runtime_num_threads,
    runtime_set_num_threads,
    sentencepiece_available,
    sentencepiece_train,
)
from ._deprecated import module_getattr
from ._logging import set_log_level
from .model import (GgufFile, KVCache, Model, gguf_hf_tensor_name, gguf_qk_unpermute, gguf_read, safetensors_read,
                    safetensors_write)
from ._progress import progress_bar
from .pipeline import (
    AnswerResult,
    ContrastDetector,
    ContrastPair,
    ContrastReport,
    ContrastResult,
    DatasetExportSummary,
    GenerationResult,
    ParsedQuestion,
    QuestionAnswerer,
    QuestionFilter,
    QuestionFilterResult,
    QuestionGenerator,
    dataset_export,
)
from .text import GgufTokenizerFiles, IncrementalDecoder, Tokenizer, chat_format_register, chat_render, gguf_tokenizer_files
from .generator import Generator, JsonConstraint, JsonConstraintState, Prefix
from .survey import (
    Culture,
    PromptMethod,
    Prompts,
    PromptTemplates,
    Question,
    Survey,
    SurveyPrompt,
    cultures_builtin,
    prompt_build,
    prompt_build_all,
    question_bank_load,
)
from .scoring import CultureScore, ScoreReport, SimilarityMatrix, SurveyScorer, TopicScore, answer_parse
from ._core import (  # LoRA adapters and training (docs/tuning.md)
    LoraAdapter,
    LoraConfig,
    LoraTrainer,
    TrainResult,
    lora_adapter_init,
    lora_adapter_read,
    lora_adapter_write,
    lora_trainer_preset,
    lora_trainer_presets,
    tune_data_read,
)
from ._core import EvaluationMethod, EvaluationReport, SurveyEvaluator
from ._core import (  # the whole loop as one call (docs/pipeline.md, "One command")
    Pipeline,
    PipelineConfig,
    PipelineResult,
    pipeline_config_load,
    pipeline_config_preset,
)
from .distributed import Distributed, distributed_group, distributed_init, distributed_shutdown  # docs/distributed.md
from . import data

__version__: str = _core.__version__

__getattr__ = module_getattr(__name__, {
    "FilterResult": ("QuestionFilterResult", QuestionFilterResult),
    "build_prompt": ("prompt_build", prompt_build),
    "num_threads": ("runtime_num_threads", runtime_num_threads),
    "set_num_threads": ("runtime_set_num_threads", runtime_set_num_threads),
    "build_prompts": ("prompt_build_all", prompt_build_all),
    "export_dataset": ("dataset_export", dataset_export),
    "register_chat_format": ("chat_format_register", chat_format_register),
})

__all__ = [
    "AnswerResult",
    "Pipeline",
    "PipelineConfig",
    "PipelineResult",
    "pipeline_config_load",
    "pipeline_config_preset",
    "LoraAdapter",
    "LoraConfig",
    "LoraTrainer",
    "TrainResult",
    "lora_adapter_init",
    "lora_adapter_read",
    "lora_adapter_write",
    "lora_trainer_preset",
    "lora_trainer_presets",
    "tune_data_read",
    "Cancelled",
    "ContrastDetector",
    "ContrastPair",
    "ContrastReport",
    "ContrastResult",
    "Culture",
    "CultureScore",
    "DatasetExportSummary",
    "EvaluationMethod",
    "EvaluationReport",
    "GenerationResult",
    "Generator",
    "GgufFile",
    "GgufTokenizerFiles",
    "IncrementalDecoder",
    "JsonConstraint",
    "JsonConstraintState",
    "KVCache",
    "LogLevel",
    "Model",
    "ParsedQuestion",
    "Prefix",
    "Progress",
    "PromptMethod",
    "PromptTemplates",
    "Prompts",
    "Question",
    "QuestionAnswerer",
    "QuestionFilter",
    "QuestionFilterResult",
    "QuestionGenerator",
    "ScoreReport",
    "SimilarityMatrix",
    "SentencePieceModel",
    "Survey",
    "SurveyPrompt",
    "SurveyEvaluator",
    "SurveyScorer",
    "TopicScore",
    "Tokenizer",
    "__version__",
    "answer_parse",
    "build_info",
    "chat_format_register",
    "chat_render",
    "data",
    "cultures_builtin",
    "dataset_export",
    "file_write_atomic",
    "gguf_hf_tensor_name",
    "gguf_qk_unpermute",
    "gguf_read",
    "gguf_tokenizer_files",
    "progress_bar",
    "prompt_build",
    "prompt_build_all",
    "question_bank_load",
    "runtime_info",
    "runtime_init",
    "runtime_num_threads",
    "runtime_set_num_threads",
    "safetensors_read",
    "safetensors_write",
    "sentencepiece_available",
    "sentencepiece_train",
    "set_log_level",
    "Distributed",
    "distributed_group",
    "distributed_init",
    "distributed_shutdown",
]
