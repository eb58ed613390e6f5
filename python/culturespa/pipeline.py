"""The self-pluralising data pipeline (the C++ pipeline layer).

``QuestionGenerator`` has a model write survey questions per topic,
``QuestionAnswerer`` has it answer them culture-unaware and as each culture,
``QuestionFilter`` cleans a bank of generated questions, ``ContrastDetector``
finds the culture-related (question, culture) pairs in culture-aware vs
culture-unaware answers, and ``dataset_export`` writes them as training sets
(Alpaca for LLaMA-Factory, messages JSONL for TRL, or culturespa's JSONL).

The classes and functions are those of ``culturespa._core`` (docstrings in
the bindings); results are typed read-only classes with ``to_dict()``. This
module adds pandas DataFrames to the results and two helpers over files and
surveys. See docs/pipeline.md.
"""
from __future__ import annotations

import os
from typing import Iterable, List, Optional, Sequence, Union

from ._core import (
    AnswerOptions,
    AnswerResult,
    AnswerRunReport,
    ContrastCounts,
    ContrastCultureReport,
    ContrastDetector,
    ContrastOptions,
    ContrastPair,
    ContrastReport,
    ContrastResult,
    DatasetExportSummary,
    DatasetRecord,
    FilterStep,
    GeneratedQuestion,
    GenerationResult,
    GenerationTopicReport,
    ParsedQuestion,
    Question,
    QuestionAnswerer,
    QuestionFilter,
    QuestionFilterOptions,
    QuestionFilterReport,
    QuestionFilterResult,
    QuestionGenerator,
    QuestionGeneratorOptions,
    answer_file_load,
    answer_file_save,
    contrast_pairs_load,
    contrast_pairs_save,
    culture_from_file_name,
    dataset_export,
    dataset_hash_unit,
    dataset_records,
    generated_question_parse,
    generated_questions_load,
    generated_questions_merged,
    generation_topics_from_survey,
    jensen_shannon_divergence,
    pipeline_seed,
    question_bank_load,
    questions_merge_renumber,
)
from ._deprecated import module_getattr
from .survey import questions_dataframe

__all__ = [
    "AnswerOptions",
    "AnswerResult",
    "AnswerRunReport",
    "ContrastCounts",
    "ContrastCultureReport",
    "ContrastDetector",
    "ContrastOptions",
    "ContrastPair",
    "ContrastReport",
    "ContrastResult",
    "DatasetExportSummary",
    "DatasetRecord",
    "FilterStep",
    "GeneratedQuestion",
    "GenerationResult",
    "GenerationTopicReport",
    "ParsedQuestion",
    "QuestionAnswerer",
    "QuestionFilter",
    "QuestionFilterOptions",
    "QuestionFilterReport",
    "QuestionFilterResult",
    "QuestionGenerator",
    "QuestionGeneratorOptions",
    "answer_file_load",
    "answer_file_save",
    "contrast_pairs_load",
    "contrast_pairs_save",
    "culture_from_file_name",
    "dataset_export",
    "dataset_hash_unit",
    "dataset_records",
    "generated_question_parse",
    "generated_questions_load",
    "generated_questions_merged",
    "generation_topics",
    "jensen_shannon_divergence",
    "load_generated_questions",
    "pipeline_seed",
    "questions_merge_renumber",
]

__getattr__ = module_getattr(__name__, {
    "FilterResult": ("QuestionFilterResult", QuestionFilterResult),
    "export_dataset": ("dataset_export", dataset_export),
})


def load_generated_questions(paths: Iterable[Union[str, os.PathLike]]) -> List[Question]:
    """Reads question-bank files (JSON lists, e.g. the reference's topic
    files) or generation stage files (``.jsonl`` from ``QuestionGenerator``)
    in the given order and renumbers the merged list Q0..Q<n-1>, as the
    reference merges its 13 topic files."""
    banks = []
    for p in paths:
        path = os.fspath(p)
        banks.append(generated_questions_merged(path) if path.endswith(".jsonl") else question_bank_load(path))
    return questions_merge_renumber(banks)


def generation_topics(survey=None, topics: Optional[Sequence[str]] = None):
    """(name, seed questions) pairs: the survey's topics in order (the 13 WVS
    topics for the WVS survey), each with its evaluated questions as seeds;
    ``topics`` keeps only those named (in the given order)."""
    if survey is None:
        raise ValueError("generation_topics needs a survey (culturespa.Survey.wvs7(dir) or Survey.load(path))")
    all_topics = generation_topics_from_survey(survey)
    if topics is None:
        return all_topics
    by_name = dict(all_topics)
    missing = [t for t in topics if t not in by_name]
    if missing:
        raise ValueError(f"topics {missing} are not topics of the survey (its topics: {list(by_name)})")
    return [(t, by_name[t]) for t in topics]


# ---- DataFrames of the results ---------------------------------------------

def _frame(rows, columns=None):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def _generation_to_dataframe(self: GenerationResult):
    """One row per accepted question, as the stage file holds it."""
    return _frame([q.to_dict() for q in self.questions])


def _generation_report_dataframe(self: GenerationResult):
    """One row per topic: target, attempts and how replies parsed."""
    return _frame([t.to_dict() for t in self.topics])


def _answers_runs_dataframe(self: AnswerResult):
    """One row per run: culture, path, resumed, questions, parsed."""
    return _frame([r.to_dict() for r in self.runs])


def _filter_to_dataframe(self: QuestionFilterResult):
    """One row per kept question (see culturespa.survey.questions_dataframe)."""
    return questions_dataframe(self.questions)


def _filter_report_dataframe(self: QuestionFilterResult):
    """One row per (step, topic): removed and rewritten counts."""
    rows = []
    for step in self.report.steps:
        removed, rewritten = step.removed_per_topic, step.rewritten_per_topic
        for topic in sorted(set(removed) | set(rewritten)):
            rows.append({"step": step.name, "topic": topic, "removed": removed.get(topic, 0),
                         "rewritten": rewritten.get(topic, 0)})
    return _frame(rows, ["step", "topic", "removed", "rewritten"])


_PAIR_COLUMNS = ["question_id", "topic", "culture", "aware_answer", "unaware_answer", "rule", "score",
                 "probability", "question", "options", "zero_based", "aware_reply", "unaware_reply"]


def _contrast_to_dataframe(self: ContrastResult):
    """One row per pair."""
    return _frame([p.to_dict() for p in self.pairs], _PAIR_COLUMNS)


def _contrast_counts_dataframe(self: ContrastResult, by: str = "culture"):
    """Tallies per culture (``by="culture"``), per topic (``"topic"``) or
    per (culture, topic) (``"culture_topic"``)."""
    rows = []
    if by == "culture":
        for c in self.report.cultures:
            rows.append({"culture": c.culture, **c.counts.to_dict(), "missing": len(c.missing_ids),
                         "extra": len(c.extra_ids)})
    elif by == "topic":
        for topic, counts in self.report.per_topic.items():
            rows.append({"topic": topic, **counts.to_dict()})
    elif by == "culture_topic":
        for c in self.report.cultures:
            for topic, counts in c.per_topic.items():
                rows.append({"culture": c.culture, "topic": topic, **counts.to_dict()})
    else:
        raise ValueError(f"by must be 'culture', 'topic' or 'culture_topic', not {by!r}")
    return _frame(rows)


GenerationResult.to_dataframe = _generation_to_dataframe
GenerationResult.report_dataframe = _generation_report_dataframe
AnswerResult.runs_dataframe = _answers_runs_dataframe
QuestionFilterResult.to_dataframe = _filter_to_dataframe
QuestionFilterResult.report_dataframe = _filter_report_dataframe
ContrastResult.to_dataframe = _contrast_to_dataframe
ContrastResult.counts_dataframe = _contrast_counts_dataframe
