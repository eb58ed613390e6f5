"""The self-pluralising data pipeline (the C++ pipeline layer).

``QuestionGenerator`` has a model write survey questions per topic,
``QuestionAnswerer`` has it answer them culture-unaware and as each culture,
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
    answer_file_save,
    contrast_pairs_load,
    contrast_pairs_save,
    culture_from_file_name,
    dataset_hash_unit,
    generated_question_parse,
    generated_questions_load,
    generated_questions_merged,
    generation_topics_from_survey,
    jensen_shannon_divergence,
    pipeline_seed,
    question_bank_load,
    questions_merge_renumber,
)
from ._progress import ProgressArg, resolve_progress
from .survey import questions_dataframe

QuestionRecord = Union[Question, Mapping]
AnswerRecords = Iterable[Mapping]
PromptBuilder = Callable[[Question, str], Sequence]

__all__ = [
    "AnswerResult",
    "GenerationResult",
    "QuestionAnswerer",
    "QuestionGenerator",
    "answer_file_save",
    "generated_question_parse",
    "generated_questions_load",
    "generated_questions_merged",
    "generation_topics",
    "pipeline_seed",
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
    """Reads question-bank files (JSON lists, e.g. the reference's topic
    files) or generation stage files (``.jsonl`` from ``QuestionGenerator``)
    in the given order and renumbers the merged list Q0..Q<n-1>, as the
    reference merges its 13 topic files."""
    banks = []
    for p in paths:
        path = os.fspath(p)
        if path.endswith(".jsonl"):
            banks.append(generated_questions_merged(path))
        else:
            banks.append(question_bank_load(path))
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


class GenerationResult:
    """Accepted questions (dicts as the stage file holds them) and, per topic,
    attempts and how replies parsed (strict / tolerant / unparseable)."""

    def __init__(self, records: List[dict], report: List[dict]):
        self.records = records
        self.report = report

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    @property
    def questions(self) -> List[Question]:
        """The accepted questions merged in topic order and renumbered Q0.."""
        by_topic: Dict[str, list] = {}
        for r in self.records:
            by_topic.setdefault(r["topic"], []).append(
                {"Q_id": r["Q_id"], "question": r["question"], "option_lst": r["option_lst"],
                 "class": r["topic"]})
        return questions_merge_renumber(list(by_topic.values()))

    def counts(self) -> Dict[str, int]:
        """Totals over topics: attempts, strict, tolerant, unparseable, accepted, resumed."""
        keys = ["attempts", "strict", "tolerant", "unparseable", "accepted", "resumed"]
        return {k: sum(t[k] for t in self.report) for k in keys}

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.records)

    def report_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.report)

    def __repr__(self) -> str:
        c = self.counts()
        return (f"GenerationResult({c['accepted']} questions; {c['attempts']} attempts: strict {c['strict']}, "
                f"tolerant {c['tolerant']}, unparseable {c['unparseable']})")


class QuestionGenerator:
    """Self-instruct question generation per topic, as the reference does:
    the social-scientist system prompt, 5 examples (up to 2 accepted
    generated questions of the topic, the rest seeds, shuffled), sampling at
    temperature 0.9 / top-p 0.95 / 256 new tokens, replies read as JSON.

    ``generator``: a ``culturespa.Generator``; or ``replies=f(prompts, seeds,
    sampling) -> [str]`` for canned replies or another backend.
    ``round_size`` prompts are in flight at once; the examples and sampling
    seed of attempt a of topic t depend only on (seed, t, a) and the questions
    accepted before its round. ``tolerant_json`` also keeps replies that only
    the tolerant parser reads (code fences, prose around the JSON, single
    quotes); both kinds are counted either way."""

    def __init__(self, generator=None, *, replies: Optional[Callable] = None, questions_per_topic: int = 1000,
                 round_size: int = 16, max_attempts_per_topic: int = 0, seed: int = 0,
                 tolerant_json: bool = False, temperature: float = 0.9, top_p: float = 0.95,
                 max_new_tokens: int = 256, examples: int = 5, seed_examples: int = 3, templates=None):
        self._generator = _core.QuestionGenerator(
            generator, replies=replies, questions_per_topic=questions_per_topic,
            round_size=round_size, max_attempts_per_topic=max_attempts_per_topic, seed=seed,
            tolerant_json=tolerant_json, temperature=temperature, top_p=top_p,
            max_new_tokens=max_new_tokens, examples=examples, seed_examples=seed_examples,
            templates=templates)

    @property
    def options(self) -> dict:
        return self._generator.options

    def generate(self, topics, stage_path: Optional[Union[str, os.PathLike]] = None, *,
                 progress: ProgressArg = None) -> GenerationResult:
        """``topics``: (name, seed questions) pairs (see ``generation_topics``)
        or a ``Survey`` (all its topics). ``stage_path``: the JSONL stage file,
        appended as questions come and resumed from when it exists."""
        if hasattr(topics, "evaluated_questions"):
            topics = generation_topics(topics)
        records, report = self._generator._generate(
            list(topics), "" if stage_path is None else os.fspath(stage_path), resolve_progress(progress))
        return GenerationResult(records, report)

    def attempt_prompt(self, topic: str, seeds, accepted, attempt: int) -> str:
        """The user prompt of one attempt (for inspection)."""
        return self._generator.attempt_prompt(topic, list(seeds), list(accepted), attempt)


class AnswerResult:
    """Answer records per run: ``unaware`` (a list) and ``aware`` ({culture:
    list}), each record {"question_id", "reply", "distribution"}; ``runs``
    says per run its file, whether it was resumed and how many replies parse."""

    def __init__(self, unaware: List[dict], aware: Dict[str, List[dict]], runs: List[dict]):
        self.unaware = unaware
        self.aware = aware
        self.runs = runs

    def runs_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.runs)

    def __repr__(self) -> str:
        return f"AnswerResult({len(self.runs)} runs, {len(self.unaware) or len(next(iter(self.aware.values()), []))} questions)"


class QuestionAnswerer:
    """Answers questions culture-unaware and as each culture (the 18 by
    default), one answer file per run in a folder; a run whose file exists is
    kept (resume). ``mode="scored"``: option distributions from option
    scoring (culturespa's way; ``answer`` is the argmax label);
    ``mode="sampled"``: sampled replies (the reference's way: temperature
    0.6, top-p 0.9), parsed later by the contrast rule.

    ``generator``: a ``culturespa.Generator``; or ``replies=f(prompts, seeds,
    sampling)`` and ``scores=f(prompts, labels) -> [[p, ...]]`` callables."""

    def __init__(self, generator=None, *, replies: Optional[Callable] = None, scores: Optional[Callable] = None,
                 mode: str = "scored", cultures: Optional[Sequence] = None, unaware: bool = True,
                 temperature: float = 0.6, top_p: float = 0.9, max_new_tokens: int = 32, seed: int = 0,
                 name: str = "answers", templates=None):
        self._answerer = _core.QuestionAnswerer(
            generator, replies=replies, scores=scores, mode=mode,
            cultures=None if cultures is None else list(cultures), unaware=unaware, temperature=temperature,
            top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, name=name, templates=templates)

    @property
    def mode(self) -> str:
        return self._answerer.mode

    @property
    def cultures(self) -> List[str]:
        return self._answerer.cultures

    def path(self, output_dir: Union[str, os.PathLike], culture: str = "") -> str:
        """The answer file of a run ("" = culture-unaware)."""
        return self._answerer.path(os.fspath(output_dir), culture)

    def answer(self, questions: Iterable[QuestionRecord], output_dir: Union[str, os.PathLike], *,
               progress: ProgressArg = None) -> AnswerResult:
        """Answers every run into ``output_dir``; ContrastDetector().detect(
        questions, result.unaware, result.aware) takes the result."""
        unaware, aware, runs = self._answerer._answer(list(questions), os.fspath(output_dir),
                                                      resolve_progress(progress))
        return AnswerResult(unaware, aware, runs)


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
