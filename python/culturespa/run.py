"""``culturespa run``: the whole CultureSPA loop as one command (docs/pipeline.md, "One command").

The chaining is C++ (``culturespa.Pipeline``): generate, filter, answer,
contrast, export, tune, evaluate, then the report stage, which is Python's
(``culturespa.report.write_report``, when that module is installed).

    import culturespa
    from culturespa import run

    config = culturespa.pipeline_config_preset("quick")
    result = culturespa.Pipeline(config).run("runs/quick", report=run.report_hook())
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Callable, Optional

from . import _core
from ._core import (
    Pipeline,
    PipelineConfig,
    PipelineResult,
    PipelineStageRun,
    pipeline_config_from_json,
    pipeline_config_load,
    pipeline_config_preset,
    pipeline_config_presets,
    pipeline_config_to_json,
    pipeline_stage_names,
)

__all__ = [
    "Pipeline",
    "PipelineConfig",
    "PipelineResult",
    "PipelineStageRun",
    "config_from_args",
    "pipeline_config_from_json",
    "pipeline_config_load",
    "pipeline_config_preset",
    "pipeline_config_presets",
    "pipeline_config_to_json",
    "pipeline_stage_names",
    "report_hook",
]

logger = logging.getLogger("culturespa.run")


def report_hook() -> Optional[Callable[[str], None]]:
    """``culturespa.report.write_report`` when the report module is there, else None
    (the report stage is then skipped and the run says so)."""
    try:
        from . import report  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(report, "write_report", None)


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The config of ``culturespa run``: --config (its own preset, or --preset,
    under it), else --preset (default quick); --model replaces [run] model."""
    if args.config:
        config = pipeline_config_load(args.config, args.preset or "")
    else:
        config = pipeline_config_preset(args.preset or "quick")
    if args.model:
        from . import models

        config.model = str(models.model_path(args.model)) if args.model in models.MODELS else args.model
    return config


def _default_output(config: PipelineConfig, args: argparse.Namespace) -> str:
    name = config.preset or (os.path.splitext(os.path.basename(args.config))[0] if args.config else "run")
    return os.path.join("runs", name)


def _stage_printer():
    """A progress callable printing one line when a stage starts and a
    throttled count within it."""
    state = {"stage": None, "last": 0.0}

    def show(p) -> bool:
        now = time.monotonic()
        if p.stage != state["stage"]:
            state["stage"] = p.stage
            state["last"] = 0.0
        if now - state["last"] >= 5.0 or (p.total and p.done == p.total):
            state["last"] = now
            print(f"  {p.stage}: {p.done}/{p.total or '?'}", file=sys.stderr, flush=True)
        return True
    return show


def run_cli(args: argparse.Namespace, *, replies=None, scores=None, progress=None) -> int:
    """``culturespa run`` (arguments: add_parser). ``replies``/``scores``
    replace the model in generate and answer, ``progress`` the progress lines
    (tests)."""
    config = config_from_args(args)
    pipeline = Pipeline(config)
    output = args.output or _default_output(config, args)
    report = report_hook()
    if report is None:
        print("culturespa run: culturespa.report is not installed: the report stage is skipped", file=sys.stderr)
    if not logging.getLogger().handlers and args.log_level is None:
        logging.basicConfig(format="culturespa: %(message)s")
        _core.log_set_level(_core.LogLevel.info)
        logging.getLogger("culturespa").setLevel(logging.INFO)
    if progress is None:
        progress = True if args.progress else (None if args.quiet else _stage_printer())
    try:
        result = pipeline.run(output, from_=args.from_stage or "", until=args.until or "", report=report,
                              progress=progress, replies=replies, scores=scores)
    except KeyboardInterrupt:
        print(f"interrupted: finished work is kept in {output}; run the same command again to resume",
              file=sys.stderr)
        return 130
    if result.nothing_to_do:
        print(f"{result.run_dir} is finished: nothing to do (--from STAGE redoes a stage)")
        return 0
    for stage in result.stages:
        took = f"{stage.seconds:8.1f} s" if stage.status == "ran" else " " * 10
        print(f"{stage.stage:9s} {stage.status:12s} {took}")
    report_path = os.path.join(result.run_dir, "report.html")
    print(f"run folder: {result.run_dir}" + (f"\nreport: {report_path}" if os.path.exists(report_path) else ""))
    return 0


def add_parser(sub) -> None:
    """Adds ``culturespa run`` to the CLI's subparsers."""
    stages = pipeline_stage_names()
    presets = pipeline_config_presets()
    run = sub.add_parser(
        "run", help="the whole loop: generate, filter, answer, contrast, export, tune, evaluate, report",
        description="Runs the CultureSPA loop into one run folder (docs/pipeline.md, \"One command\"). "
                    "Every stage resumes: run the same command again after a stop. A finished folder "
                    "is left as it is.")
    run.add_argument("--config", default=None,
                     help="config file (TOML or JSON; sections run, generate, filter, answer, contrast, "
                          "export, tune, evaluate)")
    run.add_argument("--preset", default=None,
                     help=f"built-in preset ({', '.join(presets)}; default quick, or the config's own)")
    run.add_argument("--output", default=None, help="run folder (default runs/<preset>)")
    run.add_argument("--from", dest="from_stage", default=None, metavar="STAGE",
                     help=f"first stage to run ({', '.join(stages)}); earlier stages' outputs must exist")
    run.add_argument("--until", default=None, metavar="STAGE", help="last stage to run")
    run.add_argument("--model", default=None,
                     help="a named model (smollm2-135m-instruct) or a checkpoint folder; replaces [run] model")
    run.add_argument("--progress", action="store_true", help="show a progress bar")
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    run.set_defaults(run=run_cli)
