"""Evaluating a live model on the WVS (``culturespa evaluate``; docs/evaluation.md).

The work is C++ (``culturespa.SurveyEvaluator``: asking, result files,
scoring, tables, comparisons); this module adds what is Python's: opening a
model by name, folder or GGUF file, the command line, and DataFrames.

    import culturespa
    from culturespa import evaluation

    generator, label = evaluation.generator_for("smollm2-135m-instruct")
    evaluator = culturespa.SurveyEvaluator(generator, evaluation.survey_default(), model=label)
    report = evaluator.evaluate(["P0", "P1"], "results/smollm2", progress=True)
    print(report.to_markdown())
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

from ._core import (
    ComparisonReport,
    EvaluationCell,
    EvaluationManifest,
    EvaluationMethod,
    EvaluationReport,
    EvaluationRow,
    SurveyEvaluator,
    evaluation_compare,
    evaluation_result_path,
)
from .data import survey_default, survey_default_path

__all__ = [
    "ComparisonReport",
    "EvaluationCell",
    "EvaluationManifest",
    "EvaluationMethod",
    "EvaluationReport",
    "EvaluationRow",
    "SurveyEvaluator",
    "evaluation_compare",
    "evaluation_result_path",
    "generator_for",
    "model_label",
    "report_frame",
    "score_folder",
    "survey_default",
]

PathLike = Union[str, os.PathLike]


def model_label(model: PathLike) -> str:
    """The name an evaluation folder records for ``model``: a named model's
    name (also when given as its cached folder), else the absolute path."""
    from . import models

    text = os.fspath(model)
    if text in models.MODELS:
        return text
    resolved = Path(text).expanduser().resolve()
    for name in models.MODELS:
        if resolved == models.model_path(name).resolve():
            return name
    return str(resolved)


def generator_for(model: PathLike, *, tokenizer: Optional[PathLike] = None, chat_format: Optional[str] = None,
                  batch_size: int = 16, threads: int = 0) -> Tuple[object, str]:
    """A Generator over ``model`` (a named model such as
    ``smollm2-135m-instruct``, fetched on first use; a Hugging Face folder; or
    a ``.gguf`` file, which carries its tokenizer) and the label
    the evaluation records for it."""
    from . import models
    from .generator import Generator
    from .model import Model
    from .text import Tokenizer

    text = os.fspath(model)
    path = models.model_fetch(text) if text in models.MODELS else Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model {text}: no such folder or file, and not a named model "
                                f"(named: {', '.join(sorted(models.MODELS))})")
    tokenizer_path = Path(tokenizer) if tokenizer is not None else path
    core = Model(path, threads=threads or None)  # None: LibTorch's choice
    generator = Generator(core, Tokenizer.from_folder(os.fspath(tokenizer_path)), chat_format=chat_format,
                          batch_size=batch_size)
    return generator, model_label(text if text in models.MODELS else path)


def report_frame(report: EvaluationReport):
    """One row per method x culture (pandas DataFrame)."""
    import pandas as pd

    rows = []
    for row in report.rows:
        for cell in row.cells:
            d = cell.to_dict()
            d.pop("topics")
            d["failures"] = ", ".join(f"{k} {v}" for k, v in sorted(d["failures"].items()))
            rows.append({"method": row.method, **d})
    return pd.DataFrame(rows)


def score_folder(folder: PathLike, survey, *, methods: Optional[Sequence[str]] = None,
                 cultures: Optional[Sequence[str]] = None, option_order: Optional[str] = None,
                 shuffles: Optional[int] = None, bootstrap_samples: Optional[int] = None) -> EvaluationReport:
    """The table of a finished result folder, scored without a model
    (``SurveyEvaluator.score``) with what its evaluation.json records: the
    model, protocol, runs, prefix, option order, methods and cultures; the
    keyword arguments override them. ``survey``: a Survey or a path."""
    manifest = EvaluationManifest.load(os.fspath(folder))
    options = dict(protocol=manifest.protocol, runs=manifest.runs, cultures=list(cultures or manifest.cultures),
                   option_order=option_order or manifest.option_order,
                   shuffles=shuffles if shuffles is not None else manifest.shuffles,
                   model=manifest.model, prefix=manifest.prefix)
    if bootstrap_samples is not None:
        options["bootstrap_samples"] = bootstrap_samples
    evaluator = SurveyEvaluator(None, survey, replies=_no_replies, **options)
    return evaluator.score(list(methods if methods is not None else manifest.methods), os.fspath(folder))


def _write(text: str, path: Optional[str]) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def _render(report, fmt: str) -> str:
    return {"markdown": report.to_markdown, "csv": report.to_csv, "json": report.to_json}[fmt]()


def run_cli(args: argparse.Namespace) -> int:
    """``culturespa evaluate`` (see cli.py for the arguments)."""
    survey = survey_default_path(args.survey)
    if args.compare:
        report = evaluation_compare(list(args.compare), survey, bootstrap_samples=args.bootstrap)
        _write(_render(report, args.format), args.table)
        return 0
    if not args.output:
        raise ValueError("--output DIR is needed (the result files go there), or --compare DIR...")
    methods = list(args.methods)
    if args.score_only:
        report = score_folder(args.output, survey, methods=methods, cultures=args.cultures or None,
                              option_order=args.option_order, shuffles=args.shuffles,
                              bootstrap_samples=args.bootstrap)
    else:
        generator, label = generator_for(args.model, tokenizer=args.tokenizer, chat_format=args.chat_format,
                                         batch_size=args.batch_size, threads=args.threads)
        adapters = load_adapters(generator.model, adapter=args.adapter, adapters_dir=args.adapters,
                                 cultures=args.cultures)
        cultures = args.cultures or [c for c in adapters if c != "*"] or None
        evaluator = SurveyEvaluator(generator, survey, protocol=args.protocol, cultures=cultures,
                                    runs=args.runs, option_order=args.option_order, shuffles=args.shuffles,
                                    model=label, bootstrap_samples=args.bootstrap, adapters=adapters)
        try:
            report = evaluator.evaluate(methods, args.output, progress=args.progress or None)
        except KeyboardInterrupt:
            print(f"interrupted: finished result files are kept in {args.output}; run the same command again "
                  "to resume", file=sys.stderr)
            return 130
    _write(_render(report, args.format), args.table)
    if args.map:
        _draw_map(report, survey, args.output, args.map)
    if args.table is None:
        return 0
    for fmt, suffix in (("markdown", ".md"), ("csv", ".csv"), ("json", ".json")):
        if fmt != args.format:
            _write(_render(report, fmt), os.path.splitext(args.table)[0] + suffix)
    return 0


def _draw_map(report: EvaluationReport, survey: str, folder: str, path: str) -> None:
    """The Inglehart-Welzel map of the first per-culture method's answers."""
    from . import cultural_map
    from ._core import EvaluationMethod

    method = next((row.method for row in report.rows if row.method in EvaluationMethod.names()
                   and EvaluationMethod.paper(row.method).per_culture), None)
    if method is None:
        raise ValueError("--map needs a per-culture method (P1, P2, ...) among --methods")
    human, model = cultural_map.from_folder(survey_default(survey), folder, report.cultures, method=method)
    cultural_map.plot(human, model, path, title=f"Inglehart-Welzel map: people vs {report.model} ({method})")


def load_adapters(model, *, adapter: Optional[PathLike] = None, adapters_dir: Optional[PathLike] = None,
                  cultures: Sequence[str] = ()) -> Dict[str, str]:
    """Loads LoRA adapters (PEFT folders) into ``model`` and returns the
    evaluator's ``adapters`` map: ``adapter`` (culture-joint) answers every
    prompt (``{"*": "joint"}``); ``adapters_dir`` holds one folder per culture
    (``DIR/KEN/``, as ``culturespa tune --mode specific`` writes), each
    culture's prompts asked with its own, in mixed batches. Cultures without
    a folder are refused by name when ``cultures`` asks for them."""
    if adapter is not None and adapters_dir is not None:
        raise ValueError("give --adapter (one culture-joint adapter) or --adapters (one per culture), not both")
    if adapter is not None:
        model.adapter_load("joint", os.fspath(adapter))
        return {"*": "joint"}
    if adapters_dir is None:
        return {}
    folder = Path(adapters_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"--adapters {folder}: no such folder (one PEFT adapter folder per culture, "
                                f"e.g. {folder}/KEN/adapter_config.json)")
    found = {p.name: p for p in sorted(folder.iterdir()) if (p / "adapter_config.json").is_file()}
    if not found:
        raise ValueError(f"--adapters {folder}: no adapter folders in it (expected {folder}/<CULTURE>/"
                         f"adapter_config.json, as `culturespa tune --mode specific` writes)")
    missing = [c for c in cultures if c not in found]
    if missing:
        raise ValueError(f"--adapters {folder} has no adapter for {', '.join(missing)} "
                         f"(it has {', '.join(found)})")
    chosen = {c: found[c] for c in (cultures or found)}
    for culture, path in chosen.items():
        model.adapter_load(culture, os.fspath(path))
    return {culture: culture for culture in chosen}


def _no_replies(prompts, seeds, sampling):
    raise ValueError("--score-only scores the folder's files; it asks nothing")


def add_parser(sub) -> None:
    """Adds ``culturespa evaluate`` to the CLI's subparsers."""
    from .cli import _count, _positive, _ranged

    _runs = _ranged(int, 1, 1000, what="an integer in 1..1000")
    ev = sub.add_parser(
        "evaluate", help="evaluate a model on the WVS with the paper's prompting methods; print the table",
        description="Asks the survey's evaluated questions (the WVS-7 259: Q260-Q290 and Q223 are skipped) with "
                    "each method, for each culture, writes wvs_result_{method}_{CULTURE}_{run}.json files (the "
                    "reference's format; resumable) into --output and prints the results table.")
    ev.add_argument("--model", default="smollm2-135m-instruct",
                    help="a named model (smollm2-135m-instruct, the default), a Hugging Face folder or a .gguf file")
    ev.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the model's own)")
    ev.add_argument("--chat-format", default=None, help="chat format (default: the tokenizer's template)")
    ev.add_argument("--methods", nargs="+", default=["P0", "P1"],
                    help="paper methods by name or label (P0 culture_unaware, P1 culture_aware, P2 "
                         "cross_culture_thinking, P3 self_alignment, P1+P3, P2+P3) or prompt-template files "
                         "(prompts.json shape); default P0 P1")
    ev.add_argument("--output", default=None, help="result folder (resumed when it holds finished files)")
    ev.add_argument("--survey", default=None,
                    help="survey folder or file (default: $CULTURESPA_SURVEY, else the fetched wvs7 data)")
    ev.add_argument("--protocol", default="scored", choices=["scored", "sampled"],
                    help="scored: option scoring, argmax (default); sampled: the reference's T=0.6, top-p 0.9, "
                         "256 tokens, seed 42 - run, reference parse rule")
    ev.add_argument("--runs", type=_runs, default=1, help="sampled: runs averaged (default 1)")
    ev.add_argument("--cultures", nargs="*", default=[], help="culture codes (default: all of the survey's)")
    ev.add_argument("--option-order", default="original", choices=["original", "reversed", "shuffled"],
                    help="also ask with the options reversed or shuffled (labels re-mapped)")
    ev.add_argument("--shuffles", type=_runs, default=1, help="shuffled: permutations (default 1)")
    ev.add_argument("--bootstrap", type=_count, default=1000, help="bootstrap resamples for the intervals")
    ev.add_argument("--format", default="markdown", choices=["markdown", "csv", "json"],
                    help="table format printed (or written to --table)")
    ev.add_argument("--table", default=None,
                    help="write the table here (and the other two formats beside it) instead of printing")
    ev.add_argument("--compare", nargs="+", default=None, metavar="DIR",
                    help="compare finished result folders of one model (paired differences to the first)")
    ev.add_argument("--map", default=None, metavar="PNG",
                    help="also draw the Inglehart-Welzel map (people -> model, first per-culture method) here")
    ev.add_argument("--score-only", action="store_true", help="score --output's finished files; ask nothing")
    ev.add_argument("--adapter", default=None, metavar="DIR",
                    help="a PEFT LoRA adapter folder (culture-joint, `culturespa tune --mode joint`): every prompt "
                         "is asked with it")
    ev.add_argument("--adapters", default=None, metavar="DIR",
                    help="one PEFT adapter folder per culture (DIR/KEN/, ..., `culturespa tune --mode specific`): "
                         "each culture's prompts with its own adapter, in mixed batches; --cultures defaults to "
                         "the cultures it has")
    ev.add_argument("--batch-size", type=_positive, default=16, help="sequences per forward pass (default 16)")
    ev.add_argument("--threads", type=_count, default=0, help="CPU threads (default: LibTorch's choice)")
    ev.add_argument("--progress", action="store_true", help="show a progress bar")
    ev.set_defaults(run=run_cli)
