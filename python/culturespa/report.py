"""The report of a run folder: report.md and report.html (``culturespa report RUN_DIR``;
docs/pipeline.md, "Report").

``write_report(run_dir)`` reads the files a run wrote (the layout of
``culturespa run``: generate/, filter/, answer/, contrast/, export/, tune/,
evaluate/, manifest.json) and writes

- ``report.md`` with its figures as PNG files in ``report/``;
- ``report.html``, static, its figures embedded (base64 PNG): it opens offline.

Every number comes from culturespa's C++ readers and scorers through the
bindings (``generated_questions_load``, ``question_bank_load``,
``answer_file_load``, ``contrast_pairs_load``, ``tune_data_read``, and
``SurveyEvaluator.score`` for the evaluation folders); the JSON reports
(filter, contrast) and the training logs are read as JSON. Python draws the
figures (matplotlib, its Agg canvas per figure: nothing global is changed).

A stage without outputs (a run stopped with ``--until answer``, or still
running) leaves its sections out and is named in one line at the top.

    from culturespa import report
    files = report.write_report("runs/quick")
    print(files.html)
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _core

__all__ = ["ReportFiles", "STAGES", "add_parser", "write_report"]

PathLike = Union[str, os.PathLike]
_log = logging.getLogger("culturespa.report")

# The run folder's stages in order (RUNDIR layout); the report is the last one.
STAGES = ("generate", "filter", "answer", "contrast", "export", "tune", "evaluate")
FIGURES = "report"  # the folder of report.md's figures


@dataclass(frozen=True)
class ReportFiles:
    """What ``write_report`` wrote. Iterating gives every path (report.md,
    report.html, then the figures)."""
    markdown: Path
    html: Path
    figures: Tuple[Path, ...]
    missing: Tuple[str, ...] = ()       # stages with no outputs, in run order
    problems: Tuple[str, ...] = ()      # sections that could not be read, with why

    def __iter__(self) -> Iterator[Path]:
        yield self.markdown
        yield self.html
        yield from self.figures


# ---- the document: blocks rendered to Markdown and to HTML ---------------------------------------

@dataclass
class _Heading:
    level: int
    text: str


@dataclass
class _Text:
    text: str


@dataclass
class _Table:
    headers: List[str]
    rows: List[List[str]]


@dataclass
class _Figure:
    name: str  # file name in report/
    png: bytes
    caption: str


@dataclass
class _Document:
    blocks: list = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(_Heading(level, text))

    def text(self, text: str) -> None:
        self.blocks.append(_Text(text))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.blocks.append(_Table([str(h) for h in headers], [[_cell(v) for v in row] for row in rows]))

    def figure(self, name: str, figure, caption: str) -> None:
        self.blocks.append(_Figure(name, _png(figure), caption))

    def problem(self, section: str, error: object) -> None:
        message = f"{section}: {error}"
        _log.warning("report: %s", message)
        self.problems.append(message)
        self.text(f"**Could not be read:** {message}")

    def read(self, section: str, path: Path, loader):
        """``loader(path)``, or None when the file cannot be read: then the
        report says so in ``section`` and goes on."""
        try:
            return loader(str(path))
        except (ValueError, OSError, RuntimeError, KeyError, TypeError, AttributeError) as error:
            text = str(error)
            self.problem(section, text if path.name in text else f"{path}: {text}")
            return None

    @property
    def figures(self) -> List[_Figure]:
        return [b for b in self.blocks if isinstance(b, _Figure)]


def _cell(value: object, digits: int = 1) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _markdown(document: _Document) -> str:
    out: List[str] = []
    for block in document.blocks:
        if isinstance(block, _Heading):
            out.append("#" * block.level + " " + block.text)
        elif isinstance(block, _Text):
            out.append(block.text)
        elif isinstance(block, _Table):
            def row(cells):
                return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
            lines = [row(block.headers), "| " + " | ".join(["---"] + ["---:"] * (len(block.headers) - 1)) + " |"]
            out.append("\n".join(lines + [row(r) for r in block.rows]))
        elif isinstance(block, _Figure):
            out.append(f"![{block.caption}]({FIGURES}/{block.name})\n\n*{block.caption}*")
    return "\n\n".join(out) + "\n"


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:3px 8px}
td{text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f2f2f2}
figure{margin:1em 0}img{max-width:100%;height:auto}figcaption{color:#555;font-size:13px}
.problem{color:#a00}"""


def _inline_markdown(text: str) -> str:
    """The little Markdown the report's text uses (**bold**, `code`) as HTML."""
    escaped = html.escape(text)
    for mark, tag in (("**", "strong"), ("`", "code")):
        parts = escaped.split(mark)
        escaped = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(parts)) \
            if len(parts) % 2 == 1 else escaped
    return escaped


def _html(document: _Document, title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"]
    for block in document.blocks:
        if isinstance(block, _Heading):
            out.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, _Text):
            css = ' class="problem"' if block.text.startswith("**Could not be read:**") else ""
            out.append(f"<p{css}>{_inline_markdown(block.text)}</p>")
        elif isinstance(block, _Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in block.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, _Figure):
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.caption)}">'
                       f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---- figures: each on its own Agg canvas (no pyplot state, no global backend) ------------------

def _new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    return figure, [ax for row in axes for ax in row]


def _panels(count: int, width: float, height: float, columns: int = 2):
    """A figure of ``count`` panels, at most ``columns`` a row, so that each
    stays readable at the page's width; unused cells hidden."""
    ncols = min(columns, count)
    nrows = (count + ncols - 1) // ncols
    figure, axes = _new_figure(width * ncols, height * nrows, ncols=ncols, nrows=nrows)
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, axes[:count]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# ---- reading the run folder ----------------------------------------------------------------------

def _json_load(path: str):
    with open(path, encoding="utf-8") as stream:
        try:
            return json.load(stream)
        except ValueError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None


class _Run:
    def __init__(self, run_dir: Path, survey, document: _Document):
        self.dir = run_dir
        manifest = self.json_file(document, "run folder", "manifest.json")
        config = self.json_file(document, "run folder", "config.json")
        self.manifest = manifest if isinstance(manifest, dict) else {}
        self.config = config if isinstance(config, dict) else {}
        self._survey_argument = survey
        self._survey = None

    def json_file(self, document: _Document, section: str, name: str):
        """A JSON file of the run, None when absent or unreadable (said in ``section``)."""
        path = self.dir / name
        if not path.is_file():
            return None
        return document.read(section, path, _json_load)

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    def config_value(self, key: str, section: Optional[str] = None):
        """``key`` of the config's ``section``, else at its top level, else of any section."""
        if section and isinstance(self.config.get(section), dict) and key in self.config[section]:
            return self.config[section][key]
        if key in self.config and not isinstance(self.config[key], dict):
            return self.config[key]
        for value in self.config.values():
            if isinstance(value, dict) and key in value and not isinstance(value[key], dict):
                return value[key]
        return None

    def survey(self):
        """The survey the evaluation scores against: the ``survey`` argument, else
        ``evaluate/survey.json`` (the survey as the pipeline evaluated it: its
        evaluated questions cut to ``questions_per_topic``), else the config's
        ``survey``, else $CULTURESPA_SURVEY or the fetched WVS-7 data."""
        if self._survey is None:
            from .data import survey_default

            chosen = self._survey_argument
            evaluated = self.path("evaluate/survey.json")
            if chosen is not None and isinstance(chosen, _core.Survey):
                self._survey = chosen
            elif chosen is None and evaluated.is_file():
                self._survey = _core.Survey.load(str(evaluated))
            else:
                chosen = chosen if chosen is not None else self.config_value("survey", "evaluate")
                if chosen and not os.path.isabs(os.fspath(chosen)) and self.path(os.fspath(chosen)).exists():
                    chosen = self.path(os.fspath(chosen))
                self._survey = survey_default(chosen or None)
        return self._survey

    # which stages left outputs
    def answer_files(self) -> List[Path]:
        folder = self.path("answer")
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir()
                      if p.is_file() and not p.name.startswith(".") and p.suffix in (".json", ".jsonl"))

    def training_logs(self) -> Dict[str, Path]:
        """{"joint": log, "<CULTURE>": log, ...} of the tune stage."""
        logs = {}
        joint = self.path("tune", "joint", "training_log.json")
        if joint.is_file():
            logs["joint"] = joint
        specific = self.path("tune", "specific")
        if specific.is_dir():
            for folder in sorted(specific.iterdir()):
                if (folder / "training_log.json").is_file():
                    logs[folder.name] = folder / "training_log.json"
        return logs

    def evaluation_folders(self) -> List[Path]:
        """evaluate/*/ holding an evaluation.json: base, joint, specific first, then the others."""
        root = self.path("evaluate")
        if not root.is_dir():
            return []
        folders = [p for p in root.iterdir() if (p / "evaluation.json").is_file()]
        order = {"base": 0, "joint": 1, "specific": 2}
        return sorted(folders, key=lambda p: (order.get(p.name, 3), p.name))

    def has_outputs(self, stage: str) -> bool:
        export = self.path("export")
        return {
            "generate": self.path("generate", "questions.jsonl").is_file(),
            "filter": self.path("filter", "report.json").is_file() or self.path("filter", "questions.json").is_file(),
            "answer": bool(self.answer_files()),
            "contrast": self.path("contrast", "report.json").is_file()
            or self.path("contrast", "pairs.jsonl").is_file(),
            "export": export.is_dir() and any(p.is_file() for p in export.iterdir()),
            "tune": bool(self.training_logs()),
            "evaluate": bool(self.evaluation_folders()),
        }[stage]

    def stage_entry(self, stage: str) -> dict:
        """The manifest's record of ``stage`` ({} when none)."""
        stages = self.manifest.get("stages")
        entry = stages.get(stage) if isinstance(stages, dict) else None
        return entry if isinstance(entry, dict) else {}

    def stage_status(self, stage: str) -> str:
        return str(self.stage_entry(stage).get("status", ""))


def _section(document: _Document, name: str):
    """Runs a section builder; a file it cannot read becomes a line in the
    report (and a warning), never a lost report."""
    def wrap(build):
        def run(*args):
            try:
                build(*args)
            except (ValueError, OSError, RuntimeError, KeyError, TypeError, AttributeError) as error:
                document.problem(name, error)
        return run
    return wrap


# ---- sections ------------------------------------------------------------------------------------

def _overview(document: _Document, run: _Run, missing: Sequence[str]) -> None:
    manifest = run.manifest
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    facts = [f"Run folder: `{run.dir}`"]
    if model:
        facts.append(f"model: `{model.get('name') or model.get('path', '')}`")
    if manifest.get("culturespa_version"):
        facts.append(f"culturespa {manifest['culturespa_version']}")
    if manifest.get("config_hash"):
        facts.append(f"config hash `{manifest['config_hash']}`")
    document.text("; ".join(facts) + ".")
    if missing:
        document.text("**Missing stages:** " + ", ".join(
            f"{s} (running)" if run.stage_status(s) == "running" else s for s in missing)
            + ". This report shows the stages that have outputs; `culturespa report "
            + f"{run.dir}` writes it again once they do.")
    running = [s for s in STAGES if s not in missing and run.stage_status(s) == "running"]
    if running:
        document.text("**Still running:** " + ", ".join(running) + " (its numbers below are partial).")
    rows = []
    for stage in list(STAGES) + ["report"]:
        entry = run.stage_entry(stage)
        if stage == "report" and entry.get("status") == "running":
            continue  # the stage writing this document: it has no time yet
        if entry:
            seconds = entry.get("seconds")
            rows.append([stage, entry.get("status", ""), f"{seconds:.1f}" if isinstance(seconds, (int, float)) else "",
                         entry.get("finished", "")])
    if rows:
        document.table(["stage", "status", "seconds", "finished"], rows)


def _funnel(document: _Document, run: _Run) -> None:
    from .pipeline import (answer_file_load, contrast_pairs_load, culture_from_file_name,
                           generated_questions_load, question_bank_load)

    document.heading(2, "Funnel")
    document.text("How many questions each stage produced: generated by the model (self-instruct), kept by "
                  "the filter, answered culture-unaware and as each culture, and the culture-related "
                  "(question, culture) contrast pairs that become training data.")
    summary: List[List[object]] = []
    per_topic: Dict[str, Dict[str, int]] = {}

    def topic_row(topic: str) -> Dict[str, int]:
        return per_topic.setdefault(topic or "(none)", {})

    generated_path = run.path("generate", "questions.jsonl")
    generated = document.read("funnel", generated_path, generated_questions_load) \
        if generated_path.is_file() else None
    if generated is not None:
        summary.append(["generated questions", len(generated)])
        for g in generated:
            row = topic_row(g.question.topic)
            row["generated"] = row.get("generated", 0) + 1
    filter_report = run.json_file(document, "funnel", "filter/report.json")
    kept_path = run.path("filter", "questions.json")
    kept = document.read("funnel", kept_path, question_bank_load) if kept_path.is_file() else None
    if kept is not None:
        summary.append(["kept by the filter", len(kept)])
        for q in kept:
            row = topic_row(q.topic)
            row["kept"] = row.get("kept", 0) + 1
    elif filter_report is not None:
        summary.append(["kept by the filter", filter_report["kept"]])

    answered: Dict[str, Tuple[int, int]] = {}  # run -> (answers, with a reply or distribution)
    for path in run.answer_files():
        loaded = document.read("funnel", path, answer_file_load)
        if loaded is None:
            continue
        answers = loaded[1]
        culture = culture_from_file_name(str(path))
        key = culture or ("unaware" if "unaware" in path.name else path.stem)
        answered[key] = (len(answers), sum(1 for a in answers if a.get("distribution") or a.get("reply")))
    if answered:
        cultures = [k for k in answered if k != "unaware"]
        summary.append([f"answer runs (culture-unaware + {len(cultures)} cultures)", len(answered)])
        summary.append(["answers written (all runs)", sum(n for n, _ in answered.values())])

    contrast = run.json_file(document, "funnel", "contrast/report.json")
    pairs_path = run.path("contrast", "pairs.jsonl")
    if contrast is not None:
        total = contrast["total"]
        summary.append([f"valid (question, culture) comparisons ({contrast['rule']} rule)", total["valid"]])
        summary.append(["contrast pairs (the answer changed with the culture)", total["different"]])
        for topic, counts in contrast["per_topic"].items():
            row = topic_row(topic)
            row["valid"] = counts["valid"]
            row["pairs"] = counts["different"]
    pairs = document.read("funnel", pairs_path, contrast_pairs_load) if pairs_path.is_file() else None
    if pairs is not None:
        summary.append(["pairs in contrast/pairs.jsonl", len(pairs)])

    exported = _exported(document, run)
    if "" in exported:
        summary.append(["training examples (joint export)", exported[""]])
    specific = {c: n for c, n in exported.items() if c}
    if specific:
        summary.append(["training examples (culture-specific exports)", sum(specific.values())])
    if summary:
        document.table(["step", "count"], summary)

    if filter_report is not None and filter_report.get("steps"):
        document.heading(3, "Filter steps")
        document.text(f"{filter_report['input']} questions in, {filter_report['kept']} kept.")
        document.table(["step", "removed", "rewritten", "remaining"],
                       [[s["name"], s["removed"], s["rewritten"], s["remaining"]] for s in filter_report["steps"]])

    if per_topic:
        document.heading(3, "Per topic")
        columns = [c for c in ("generated", "kept", "valid", "pairs") if any(c in r for r in per_topic.values())]
        document.table(["topic"] + columns, [[t] + [r.get(c, 0) for c in columns] for t, r in per_topic.items()])

    cultures = [c["culture"] for c in contrast["cultures"]] if contrast is not None else \
        [k for k in answered if k != "unaware"]
    if cultures:
        document.heading(3, "Per culture")
        by_culture = {c["culture"]: c for c in contrast["cultures"]} if contrast is not None else {}
        headers = ["culture"]
        if answered:
            headers += ["answered"]
        if by_culture:
            headers += ["compared", "valid", "same", "pairs", "invalid"]
        if specific:
            headers += ["training examples"]
        rows = []
        for culture in cultures:
            row: List[object] = [culture]
            if answered:
                row.append(answered.get(culture, (0, 0))[1])
            if by_culture:
                c = by_culture[culture]
                row += [c["compared"], c["valid"], c["same"], c["different"], c["invalid"]]
            if specific:
                row.append(specific.get(culture, 0))
            rows.append(row)
        document.table(headers, rows)
        if "unaware" in answered:
            document.text(f"The culture-unaware run answered {answered['unaware'][1]} of "
                          f"{answered['unaware'][0]} questions.")

    if contrast is not None and contrast["cultures"] and contrast["per_topic"]:
        topics = list(contrast["per_topic"])
        matrix = [[c["per_topic"].get(t, {}).get("different", 0) for t in topics] for c in contrast["cultures"]]
        document.table(["pairs: culture \\ topic"] + topics,
                       [[c["culture"]] + m for c, m in zip(contrast["cultures"], matrix)])
        document.figure("pairs.png", _pairs_figure(topics, [c["culture"] for c in contrast["cultures"]], matrix),
                        "Contrast pairs per culture and topic")


def _exported(document: _Document, run: _Run) -> Dict[str, int]:
    """Training examples per export file: {"": joint, "<CULTURE>": specific}."""
    from .tune import training_files

    folder = run.path("export")
    if not folder.is_dir():
        return {}
    name = run.config_value("name", "export") or "culturespa"
    counts = {}
    for mode in ("joint", "specific"):
        try:
            files = training_files(str(folder), mode, name)
        except FileNotFoundError:
            continue
        for culture, path in files.items():
            examples = document.read("funnel", path, _core.tune_data_read)
            if examples is not None:
                counts[culture] = len(examples)
    return counts


def _pairs_figure(topics: Sequence[str], cultures: Sequence[str], matrix: Sequence[Sequence[int]]):
    figure, (ax,) = _new_figure(max(5.0, 0.5 * len(topics) + 3), max(2.5, 0.35 * len(cultures) + 1.8))
    image = ax.imshow(matrix, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(topics)))
    ax.set_xticklabels([t if len(t) <= 22 else t[:20] + "..." for t in topics], rotation=45, ha="right",
                       fontsize=8)
    ax.set_yticks(range(len(cultures)))
    ax.set_yticklabels(cultures, fontsize=8)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=ax, label="pairs")
    ax.set_title("Contrast pairs per culture and topic")
    figure.tight_layout()
    return figure


def _training(document: _Document, run: _Run) -> None:
    document.heading(2, "Training")
    logs = {}
    for name, path in run.training_logs().items():
        log = document.read("training", path, _json_load)
        if log is not None:
            logs[name] = log
    if not logs:
        return
    document.text("LoRA training of the culture-joint adapter (one for all cultures) and of the "
                  "culture-specific adapters (one per culture): the loss (mean over the response tokens) "
                  "and the learning rate per optimiser step. A loss that falls and levels off is what "
                  "a working tune looks like; the learning rate warms up, then decays.")
    rows = []
    for name, log in logs.items():
        steps = log.get("steps", [])
        losses = [s["loss"] for s in steps]
        rows.append([name if name == "joint" else f"specific {name}", log.get("examples", ""), log.get("used", ""),
                     len(steps), _cell(losses[0] if losses else float("nan"), 4),
                     _cell(losses[-1] if losses else float("nan"), 4),
                     f"{sum(s.get('seconds', 0.0) for s in steps):.1f}"])
    document.table(["adapter", "examples", "used", "steps", "first loss", "final loss", "seconds"], rows)
    figure, (loss_ax, lr_ax) = _new_figure(11, 4, ncols=2)
    for name, log in logs.items():
        steps = log.get("steps", [])
        x = [s["step"] for s in steps]
        style = dict(linewidth=2.2, color="black") if name == "joint" else dict(linewidth=1, alpha=0.8)
        label = name if name == "joint" else f"specific {name}"
        loss_ax.plot(x, [s["loss"] for s in steps], label=label, marker="." if len(x) < 30 else None, **style)
        lr_ax.plot(x, [s["learning_rate"] for s in steps], label=label, **style)
    from matplotlib.ticker import MaxNLocator

    loss_ax.set(xlabel="step", ylabel="loss", title="Training loss")
    for ax in (loss_ax, lr_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    lr_ax.set(xlabel="step", ylabel="learning rate", title="Learning rate")
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    loss_ax.legend(fontsize="small", ncol=2 if len(logs) > 6 else 1)
    figure.tight_layout()
    document.figure("training.png", figure, "Training loss and learning rate per step")


# ---- evaluation ----------------------------------------------------------------------------------

@dataclass
class _Column:
    label: str      # "base P0", "base P1", "joint", "specific", ...
    folder: Path
    method: str     # the method's name (culture_aware, ...)
    row: object     # EvaluationRow


def _method_labels() -> Dict[str, str]:
    """Method name -> paper label (culture_aware -> P1), as the C++ side names them."""
    labels = {}
    for label in ("P0", "P1", "P2", "P3", "P1+P3", "P2+P3"):
        try:
            labels[_core.EvaluationMethod.paper(label).name] = label
        except ValueError:
            pass
    return labels


def _evaluations(run: _Run, survey, bootstrap_samples: Optional[int], document: _Document):
    """Scores every evaluate/*/ folder (C++ SurveyEvaluator.score): the table's
    columns and the first report (for the human similarity)."""
    from .evaluation import score_folder

    labels = _method_labels()
    columns: List[_Column] = []
    reports = []
    for folder in run.evaluation_folders():
        try:
            manifest = _core.EvaluationManifest.load(str(folder))
            methods = [m for m in manifest.methods if m in labels]
            others = [m for m in manifest.methods if m not in labels]
            if others:
                document.text(f"`evaluate/{folder.name}` also holds user methods ({', '.join(others)}); "
                              "the report shows the paper's methods.")
            report = score_folder(folder, survey, methods=methods, bootstrap_samples=bootstrap_samples)
        except (ValueError, OSError, RuntimeError) as error:
            document.problem(f"evaluate/{folder.name}", error)
            continue
        reports.append(report)
        for row in report.rows:
            if folder.name == "base" or len(report.rows) > 1:
                label = f"{folder.name} {labels.get(row.method, row.method)}"
            else:
                label = folder.name
            columns.append(_Column(label, folder, row.method, row))
    return columns, reports


def _ci(cell) -> str:
    if math.isnan(cell.alignment):
        return "n/a"
    if math.isnan(cell.ci_low) or math.isnan(cell.ci_high):
        return f"{cell.alignment:.1f}"
    return f"{cell.alignment:.1f} [{cell.ci_low:.1f}, {cell.ci_high:.1f}]"


def _cells(column: _Column) -> Dict[str, object]:
    return {c.culture: c for c in column.row.cells}


def _results(document: _Document, run: _Run, survey, columns: List[_Column], reports) -> None:
    first = reports[0]
    document.text(f"Alignment with the human answers of each culture (the paper's score x100; 100 = every "
                  f"answer is the culture's majority answer), {first.protocol} protocol, "
                  f"{first.evaluated_questions} survey questions, with 95% bootstrap intervals over the "
                  f"questions in brackets. P0 asks culture-unaware (one answer set scored against every "
                  f"culture), P1 asks as each culture; joint and specific are the base model with the tuned "
                  f"adapters. Higher is better; compare a column with base P1 (same prompts, no tuning).")
    cultures: List[str] = []
    for column in columns:
        for cell in column.row.cells:
            if cell.culture not in cultures:
                cultures.append(cell.culture)
    by_column = [_cells(c) for c in columns]
    baseline = next((cells for column, cells in zip(columns, by_column) if column.method != "culture_unaware"),
                    by_column[0])
    rows = []
    for culture in cultures:
        row = [culture] + [_ci(cells[culture]) if culture in cells else "" for cells in by_column]
        random = baseline.get(culture)
        rows.append(row + [_cell(random.random_baseline) if random is not None else ""])
    rows.append(["average"] + [_cell(c.row.average) for c in columns] + [""])
    document.table(["culture"] + [c.label for c in columns] + ["random"], rows)
    document.text("`random`: the expected score of uniformly random answers on the same questions. "
                  "The average is the mean over the cultures.")

    from .scoring import plot_culture_bars
    from types import SimpleNamespace

    figure, (ax,) = _new_figure(max(7.0, 0.45 * len(cultures) * max(1, len(columns)) + 2.5), 4.8)
    plot_culture_bars({c.label: SimpleNamespace(cultures=c.row.cells, average=c.row.average) for c in columns},
                      ax=ax, title="Alignment per culture (95% intervals; dashed: averages)")
    ends = [v for c in columns for cell in c.row.cells for v in (cell.ci_low, cell.ci_high, cell.alignment)
            if not math.isnan(v)]
    if ends:  # the whole intervals in view
        ax.set_ylim(max(0.0, min(ends) - 5), min(100.0, max(ends) + 5))
    document.figure("results.png", figure, "Alignment per culture: base against tuned")


def _cultural_map(document: _Document, survey, columns: List[_Column]) -> None:
    from . import cultural_map

    aware = [c for c in columns if c.method == "culture_aware"]
    if not aware:
        return
    document.heading(2, "Inglehart-Welzel cultural map")
    document.text("Each culture's human answers (dots) and the model's answers as that culture (crosses, with "
                  "an arrow from the human point) on the two Inglehart-Welzel dimensions: traditional vs "
                  "secular-rational (vertical) and survival vs self-expression (horizontal), from ten WVS "
                  "indicators standardised over the cultures' human values (docs/evaluation.md). Short arrows "
                  "mean the model places the culture where its people are; arrows that all point to one spot "
                  "mean the model answers alike for every culture.")
    points = [cultural_map.from_folder(survey, c.folder, [cell.culture for cell in c.row.cells], method=c.method)
              for c in aware]
    if all(math.isnan(v) for human, _ in points for point in human.values() for v in point):
        document.text("Not drawn: the survey has none of the map's indicator questions "
                      f"({', '.join(cultural_map.QUESTION_IDS)}) with human answers.")
        return
    figure, axes = _panels(len(aware), 6.2, 5.4)
    for column, (human, model), ax in zip(aware, points, axes):
        cultural_map.plot(human, model, title=f"people vs {column.label}", axes=ax)
    figure.tight_layout()
    document.figure("cultural_map.png", figure, "Inglehart-Welzel map: people vs " +
                    ", ".join(c.label for c in aware))


def _similarity(document: _Document, columns: List[_Column], reports) -> None:
    from .scoring import _matrix_parts, plot_similarity_heatmap

    def cultures(matrix):
        return _matrix_parts(matrix)[0]

    shown = [c for c in columns if cultures(c.row.similarity)]
    human = next((r.human_similarity for r in reports if cultures(r.human_similarity)), None)
    if not shown or human is None:
        return
    document.heading(2, "Culture similarity: model vs people")
    document.text("How alike the cultures' answers are, for every pair of cultures (the alignment score "
                  "between two answer sets, x100): people's (from the WVS answers) and the model's answers "
                  "as each culture. A model that separates cultures the way people do shows the same pattern; "
                  "its Spearman rank correlation with the human matrix is near 1. A uniform model matrix "
                  "means the model answers alike for every culture.")
    document.table(["model", "rank correlation with people"],
                   [[c.label, _cell(c.row.similarity_rank_correlation, 2)] for c in shown])
    panels = [("people", human)] + [(c.label, c.row.similarity) for c in shown]
    size = 0.4 * len(cultures(human)) + 3
    figure, axes = _panels(len(panels), size + 1, size)
    for (label, matrix), ax in zip(panels, axes):
        plot_similarity_heatmap(matrix, ax=ax, title=label, annotate=len(cultures(matrix)) <= 8)
    figure.tight_layout()
    document.figure("similarity.png", figure, "Culture x culture similarity: people and each model")


def _evaluation_sections(document: _Document, run: _Run, bootstrap_samples: Optional[int]) -> List[_Column]:
    """The results, map and similarity sections; returns the table's columns."""
    document.heading(2, "Results")
    try:
        survey = run.survey()
    except (ValueError, OSError, RuntimeError) as error:
        document.problem("the survey to score against", error)
        return []
    columns, reports = _evaluations(run, survey, bootstrap_samples, document)
    if not columns:
        return []
    _section(document, "results")(_results)(document, run, survey, columns, reports)
    _section(document, "cultural map")(_cultural_map)(document, survey, columns)
    _section(document, "similarity")(_similarity)(document, columns, reports)
    return columns


# ---- writing -------------------------------------------------------------------------------------

def write_report(run_dir: PathLike, *, survey=None, bootstrap_samples: Optional[int] = None,
                 title: Optional[str] = None) -> ReportFiles:
    """Writes ``report.md`` (figures in ``report/``) and ``report.html`` (figures
    embedded) into ``run_dir`` from the run's files; returns the paths.

    ``survey``: the survey the evaluation folders are scored against (a Survey
    or a path); default: the run config's ``survey``, else $CULTURESPA_SURVEY,
    else the fetched WVS-7 data. ``bootstrap_samples``: resamples for the
    intervals (default: SurveyEvaluator's). Stages without outputs are left out
    and named at the top; a file that cannot be read is named in its section.
    FileNotFoundError when ``run_dir`` is not a folder.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"report: {folder} is not a run folder (the --output of `culturespa run`)")
    document = _Document()
    run = _Run(folder, survey, document)
    model = run.manifest.get("model")
    name = model.get("name", "") if isinstance(model, dict) else ""
    title = title or ("CultureSPA run report" + (f": {name}" if name else ""))
    document.blocks.insert(0, _Heading(1, title))  # above what reading the manifest had to say
    missing = tuple(s for s in STAGES if not run.has_outputs(s))
    _section(document, "overview")(_overview)(document, run, missing)
    headline_at = len(document.blocks)
    if any(run.has_outputs(s) for s in ("generate", "filter", "answer", "contrast", "export")):
        _section(document, "funnel")(_funnel)(document, run)
    if run.has_outputs("tune"):
        _section(document, "training")(_training)(document, run)
    if run.has_outputs("evaluate"):
        columns = _evaluation_sections(document, run, bootstrap_samples)
        if columns:  # the averages first: what most readers come for
            document.blocks.insert(headline_at, _Text("**Average alignment** (x100, higher is better): " + ", ".join(
                f"{c.label} {_cell(c.row.average)}" for c in columns) + ". Per culture, with intervals: Results."))

    figures_dir = folder / FIGURES
    written = []
    if document.figures:
        figures_dir.mkdir(exist_ok=True)
    for figure in document.figures:
        path = figures_dir / figure.name
        _core.file_write_atomic(str(path), figure.png)
        written.append(path)
    if figures_dir.is_dir():  # figures of an earlier report that this one no longer has
        for stale in figures_dir.glob("*.png"):
            if stale not in written:
                stale.unlink()
    markdown, page = folder / "report.md", folder / "report.html"
    _core.file_write_atomic(str(markdown), _markdown(document))
    _core.file_write_atomic(str(page), _html(document, title))
    return ReportFiles(markdown, page, tuple(written), missing, tuple(document.problems))


# ---- command line --------------------------------------------------------------------------------

def run_cli(args: argparse.Namespace) -> int:
    """``culturespa report RUN_DIR``."""
    files = write_report(args.run_dir, survey=args.survey, bootstrap_samples=args.bootstrap)
    if files.missing:
        print(f"missing stages (left out): {', '.join(files.missing)}")
    for problem in files.problems:
        print(f"could not be read: {problem}", file=sys.stderr)
    print(files.markdown)
    print(files.html)
    return 1 if files.problems else 0


def add_parser(sub) -> None:
    """Adds ``culturespa report`` to the CLI's subparsers."""
    from .cli import _count

    parser = sub.add_parser(
        "report", help="(re)write report.md and report.html of a run folder",
        description="Reads a run folder (the --output of `culturespa run`) and writes report.md (figures in "
                    "report/) and report.html (figures embedded, opens offline): the funnel, the training "
                    "curves, the results table with intervals, the per-culture chart, the Inglehart-Welzel "
                    "map and the similarity heatmaps. Stages without outputs are left out and named.")
    parser.add_argument("run_dir", help="the run folder")
    parser.add_argument("--survey", default=None,
                        help="survey the evaluation is scored against (default: the run's config, else "
                             "$CULTURESPA_SURVEY, else the fetched wvs7 data)")
    parser.add_argument("--bootstrap", type=_count, default=None,
                        help="bootstrap resamples for the intervals (default: the evaluator's)")
    parser.set_defaults(run=run_cli)

