"""The self-pluralising data pipeline's model-free stages (the C++ pipeline layer).

``QuestionFilter`` cleans a bank of generated questions, ``ContrastDetector``
finds the culture-related (question, culture) pairs in culture-aware vs
culture-unaware answers, and ``export_dataset`` writes them as training sets
(Alpaca for LLaMA-Factory, messages JSONL for TRL, or culturespa's JSONL).
Records are plain dicts (answers, pairs) or ``Question`` objects; every result
has ``to_dataframe()``. See docs/pipeline.md.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _core
from ._core import (
    Question,
    answer_file_load,
    contrast_pairs_load,
    contrast_pairs_save,
    culture_from_file_name,
    dataset_hash_unit,
    jensen_shannon_divergence,
    question_bank_load,
    questions_merge_renumber,
)
from ._progress import ProgressArg, resolve_progress
from .survey import questions_dataframe

QuestionRecord = Union[Question, Mapping]
AnswerRecords = Iterable[Mapping]
PromptBuilder = Callable[[Question, str], Sequence]

__all__ = [
    "ContrastDetector",
    "ContrastResult",
    "FilterResult",
    "QuestionFilter",
    "answer_file_load",
    "contrast_pairs_load",
    "contrast_pairs_save",
    "culture_from_file_name",
    "dataset_hash_unit",
    "dataset_records",
    "export_dataset",
    "jensen_shannon_divergence",
    "load_generated_questions",
    "questions_merge_renumber",
]


def load_generated_questions(paths: Iterable[Union[str, os.PathLike]]) -> List[Question]:
    """Reads question-bank files in the given order and renumbers the merged
    list Q0..Q<n-1>, as the reference merges its 13 topic files."""
    return questions_merge_renumber([question_bank_load(os.fspath(p)) for p in paths])


class FilterResult:
    """The kept questions and what each filter step did."""

    def __init__(self, questions: List[Question], report: dict):
        self.questions = questions
        self.report = report

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self):
        return iter(self.questions)

    def counts(self) -> Dict[str, int]:
        """Questions left after each step, e.g. {"input": 13000, "exact_duplicate": 12891, ...}."""
        out = {"input": self.report["input"]}
        out.update({step["name"]: step["remaining"] for step in self.report["steps"]})
        return out

    def to_dataframe(self):
        """One row per kept question (see culturespa.survey.questions_dataframe)."""
        return questions_dataframe(self.questions)

    def report_dataframe(self):
        """One row per (step, topic): removed and rewritten counts."""
        import pandas as pd

        rows = []
        for step in self.report["steps"]:
            topics = set(step["removed_per_topic"]) | set(step["rewritten_per_topic"])
            for topic in sorted(topics):
                rows.append({"step": step["name"], "topic": topic,
                             "removed": step["removed_per_topic"].get(topic, 0),
                             "rewritten": step["rewritten_per_topic"].get(topic, 0)})
        return pd.DataFrame(rows, columns=["step", "topic", "removed", "rewritten"])

    def __repr__(self) -> str:
        return f"FilterResult({self.report['input']} -> {len(self.questions)} questions)"


class QuestionFilter:
    """The reference's question filters (exact duplicates over seeds +
    generated, bare-number options without a scale, numbered options rewritten)
    and optional ones: near-duplicates by word n-gram Jaccard similarity,
    option-count bounds, duplicate options."""

    def __init__(self, *, reference: bool = True, near_duplicate_threshold: float = 0.0,
                 near_duplicate_ngram: int = 3, min_options: int = 0, max_options: int = 0,
                 drop_duplicate_options: bool = False):
        self._filter = _core.QuestionFilter(
            reference=reference, near_duplicate_threshold=near_duplicate_threshold,
            near_duplicate_ngram=near_duplicate_ngram, min_options=min_options,
            max_options=max_options, drop_duplicate_options=drop_duplicate_options)

    @property
    def options(self) -> dict:
        return self._filter.options

    def apply(self, generated: Iterable[QuestionRecord], seeds: Iterable[QuestionRecord] = (), *,
              progress: ProgressArg = None) -> FilterResult:
        """Filters ``generated``; ``seeds`` only take part in duplicate detection."""
        questions, report = self._filter._apply(list(generated), list(seeds),
                                                resolve_progress(progress))
        return FilterResult(questions, report)


class ContrastResult:
    """The culture-related pairs and the valid/same/different tallies."""

    def __init__(self, pairs: List[dict], report: dict):
        self.pairs = pairs
        self.report = report

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self):
        return iter(self.pairs)

    def to_dataframe(self):
        """One row per pair."""
        import pandas as pd

        columns = ["question_id", "topic", "culture", "aware_answer", "unaware_answer", "rule",
                   "score", "probability", "question", "options", "zero_based", "aware_reply",
                   "unaware_reply"]
        return pd.DataFrame(self.pairs, columns=columns)

    def counts_dataframe(self, by: str = "culture"):
        """Tallies per culture (``by="culture"``), per topic (``"topic"``) or
        per (culture, topic) (``"culture_topic"``)."""
        import pandas as pd

        keys = ["compared", "valid", "same", "different", "invalid"]
        rows = []
        if by == "culture":
            for c in self.report["cultures"]:
                rows.append({"culture": c["culture"], **{k: c[k] for k in keys},
                             "missing": len(c["missing_ids"]), "extra": len(c["extra_ids"])})
        elif by == "topic":
            for topic, counts in self.report["per_topic"].items():
                rows.append({"topic": topic, **counts})
        elif by == "culture_topic":
            for c in self.report["cultures"]:
                for topic, counts in c["per_topic"].items():
                    rows.append({"culture": c["culture"], "topic": topic, **counts})
        else:
            raise ValueError(f"by must be 'culture', 'topic' or 'culture_topic', not {by!r}")
        return pd.DataFrame(rows)

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the pairs as the JSONL stage file (atomically)."""
        contrast_pairs_save(os.fspath(path), self.pairs)

    def __repr__(self) -> str:
        total = self.report["total"]
        return (f"ContrastResult({len(self.pairs)} pairs; valid {total['valid']}, "
                f"same {total['same']}, different {total['different']})")


class ContrastDetector:
    """Decides culture-relatedness per (question, culture).

    ``rule="reference"``: both replies parse (first run of digits, within
    ``min_answer..max_answer``) and the culture-aware answer differs.
    ``rule="distributional"``: the Jensen-Shannon divergence (bits) between the
    culture-aware and unaware option distributions reaches ``jsd_threshold``
    (and, with ``require_argmax_change``, the argmax differs)."""

    def __init__(self, *, rule: str = "reference", min_answer: int = 0, max_answer: int = 15,
                 jsd_threshold: float = 0.1, require_argmax_change: bool = False):
        self._detector = _core.ContrastDetector(
            rule=rule, min_answer=min_answer, max_answer=max_answer, jsd_threshold=jsd_threshold,
            require_argmax_change=require_argmax_change)

    @property
    def rule(self) -> str:
        return self._detector.rule

    def detect(self, questions: Iterable[QuestionRecord], unaware: AnswerRecords,
               aware: Union[Mapping[str, AnswerRecords], Iterable[Tuple[str, AnswerRecords]]], *,
               progress: ProgressArg = None) -> ContrastResult:
        """``unaware``: answer records ``{"question_id", "reply"}`` and/or
        ``"distribution"``; ``aware``: ``{culture code: answer records}``.
        Answers are matched by question id, in any order."""
        if not isinstance(aware, Mapping):
            aware = dict(aware)
        aware = {code: list(records) for code, records in aware.items()}
        pairs, report = self._detector._detect(list(questions), list(unaware), aware,
                                               resolve_progress(progress))
        return ContrastResult(pairs, report)


def _pairs_list(pairs) -> list:
    if isinstance(pairs, ContrastResult):
        return pairs.pairs
    if isinstance(pairs, (str, os.PathLike)):
        return contrast_pairs_load(os.fspath(pairs))
    return list(pairs)


def export_dataset(pairs, output_dir: Union[str, os.PathLike], *, format: str = "alpaca",
                   mode: str = "joint", prompt_builder: Optional[PromptBuilder] = None,
                   templates=None, answer_with_option_text: bool = False,
                   validation_fraction: float = 0.0, subsample_fraction: float = 1.0, seed: int = 0,
                   name: str = "culturespa", progress: ProgressArg = None) -> dict:
    """Writes contrast pairs (a ContrastResult, pair dicts or a pairs file) as
    training sets. ``prompt_builder(question, culture)`` returns the messages
    ([{"role", "content"}] or (role, content) pairs); by default the
    reference's culture-aware prompt (optionally with other ``templates``).
    Returns {"files", "records", "pairs_in", "pairs_sampled"}."""
    return _core.dataset_export(
        _pairs_list(pairs), os.fspath(output_dir), prompt_builder=prompt_builder, format=format,
        mode=mode, answer_with_option_text=answer_with_option_text,
        validation_fraction=validation_fraction, subsample_fraction=subsample_fraction, seed=seed,
        name=name, templates=templates, progress=resolve_progress(progress))


def dataset_records(pairs, *, prompt_builder: Optional[PromptBuilder] = None, templates=None,
                    answer_with_option_text: bool = False, validation_fraction: float = 0.0,
                    subsample_fraction: float = 1.0, seed: int = 0):
    """The records export_dataset would write, as a list of dicts
    {question_id, culture, split, prompt, output}, without writing files."""
    return _core.dataset_records(
        _pairs_list(pairs), prompt_builder=prompt_builder, templates=templates,
        answer_with_option_text=answer_with_option_text,
        validation_fraction=validation_fraction, subsample_fraction=subsample_fraction, seed=seed)
