"""Scoring survey answers: the paper's alignment score and more.

The work is done in C++ (``culturespa._core``); this module re-exports it and
adds pandas DataFrames and matplotlib figures. Formulas: docs/scoring.md.

    scorer = SurveyScorer("../shared/wvs")          # or a Survey object
    usa = scorer.score("wvs_result_culture_aware_USA_0.json", "USA")
    usa.alignment                                   # x100, as the paper reports it
    report = scorer.score_cultures("wvs_result_culture_unaware_0.json")
    report_frame(report)                            # one row per culture
"""
from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Sequence, Union

from ._core import (
    CultureScore,
    ScoreReport,
    SimilarityMatrix,
    SurveyScorer,
    TopicScore,
    alignment_random_baseline,
    alignment_score,
    answer_file_load,
    answer_parse,
    answer_parse_reference,
    culture_from_file_name,
    expected_option_id,
    js_similarity,
    similarity_rank_correlation,
    spearman_correlation,
    wasserstein_similarity,
)

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "CultureScore",
    "ScoreReport",
    "SimilarityMatrix",
    "SurveyScorer",
    "TopicScore",
    "alignment_random_baseline",
    "alignment_score",
    "answer_file_load",
    "answer_parse",
    "answer_parse_reference",
    "culture_from_file_name",
    "expected_option_id",
    "js_similarity",
    "plot_culture_bars",
    "plot_similarity_heatmap",
    "report_frame",
    "score_runs",
    "similarity_frame",
    "similarity_rank_correlation",
    "spearman_correlation",
    "topic_frame",
    "wasserstein_similarity",
]


def score_runs(scorer: SurveyScorer, runs: Mapping[str, object], source: str = "") -> ScoreReport:
    """One run per culture ({culture: path or list of answers}) as one report,
    e.g. the 18 culture-aware runs of a model."""
    scores = [scorer.score(run, culture) for culture, run in runs.items()]
    return ScoreReport(scores, source=source, parse=scorer.parse)


def _reports(reports: Union[ScoreReport, Sequence[ScoreReport], Mapping[str, ScoreReport]]
             ) -> Dict[str, ScoreReport]:
    if isinstance(reports, ScoreReport):
        return {reports.source or "run": reports}
    if isinstance(reports, Mapping):
        return dict(reports)
    return {(r.source or f"run {i}"): r for i, r in enumerate(reports)}


def report_frame(reports: Union[ScoreReport, Sequence[ScoreReport], Mapping[str, ScoreReport]]):
    """A pandas DataFrame with one row per (run, culture): alignment, its
    bootstrap interval, the random baseline and the counts (x100 scores)."""
    import pandas as pd

    rows = []
    for label, report in _reports(reports).items():
        for culture in report.cultures:
            d = culture.to_dict()
            failures = d.pop("failures")
            d.pop("topics")
            d["run"] = label
            d["parse"] = report.parse
            for reason, count in failures.items():
                d[f"failures_{reason}"] = count
            rows.append(d)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    first = ["run", "culture", "alignment", "ci_low", "ci_high", "random_baseline",
             "answered", "counted", "no_gold", "parse_failures"]
    rest = [c for c in frame.columns if c not in first]
    frame = frame[first + rest]
    failure_columns = [c for c in frame.columns if c.startswith("failures_")]
    frame[failure_columns] = frame[failure_columns].fillna(0).astype(int)
    return frame


def topic_frame(report: ScoreReport, value: str = "alignment"):
    """A culture x topic DataFrame of ``value`` ("alignment", "counted",
    "parse_failures", ...), topics in the survey's order."""
    import pandas as pd

    data = {}
    topics = []
    for culture in report.cultures:
        row = {}
        for topic in culture.topics:
            row[topic.topic] = topic.alignment if value == "alignment" else getattr(topic.counts, value)
            if topic.topic not in topics:
                topics.append(topic.topic)
        data[culture.culture] = row
    return pd.DataFrame.from_dict(data, orient="index")[topics]


def _matrix_parts(matrix) -> tuple:
    """(cultures, values) of a SimilarityMatrix or a {'cultures', 'values'} mapping."""
    if isinstance(matrix, Mapping):
        return list(matrix["cultures"]), matrix["values"]
    return list(matrix.cultures), matrix.values


def similarity_frame(matrix):
    """A SimilarityMatrix (or {'cultures', 'values'}) as a labelled DataFrame."""
    import pandas as pd

    cultures, values = _matrix_parts(matrix)
    return pd.DataFrame(values, index=cultures, columns=cultures)


def plot_culture_bars(reports: Union[ScoreReport, Sequence[ScoreReport], Mapping[str, ScoreReport]],
                      ax=None, title: Optional[str] = "Alignment with human answers",
                      error_bars: bool = True, averages: Optional[Mapping[str, float]] = None):
    """Grouped bars: one group per culture, one bar per run (several reports,
    e.g. culture-unaware vs culture-aware), with bootstrap intervals. A run's
    average is drawn as a dashed line; ``averages`` adds more lines
    ({label: value}). Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    runs = _reports(reports)
    cultures = []
    for report in runs.values():
        for c in report.cultures:
            if c.culture not in cultures:
                cultures.append(c.culture)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(cultures) * max(1, len(runs)) + 2), 4.5))
    else:
        fig = ax.figure
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(cultures))
    for k, (label, report) in enumerate(runs.items()):
        by_culture = {c.culture: c for c in report.cultures}
        values = np.array([by_culture[c].alignment if c in by_culture else np.nan for c in cultures])
        low = np.array([by_culture[c].ci_low if c in by_culture else np.nan for c in cultures])
        high = np.array([by_culture[c].ci_high if c in by_culture else np.nan for c in cultures])
        errors = None
        if error_bars and not np.all(np.isnan(low)):
            errors = np.vstack([values - low, high - values])
        bars = ax.bar(x + (k - (len(runs) - 1) / 2) * width, values, width, label=label, yerr=errors,
                      capsize=2 if errors is not None else 0)
        ax.axhline(report.average, color=bars.patches[0].get_facecolor(), linestyle="--", linewidth=1)
    for label, value in (averages or {}).items():
        ax.axhline(value, color="grey", linestyle=":", linewidth=1, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(cultures, rotation=45, ha="right")
    ax.set_ylabel("alignment score (x100)")
    finite = [c.alignment for r in runs.values() for c in r.cultures if c.alignment == c.alignment]
    if finite:
        ax.set_ylim(max(0.0, min(finite) - 10), min(100.0, max(finite) + 10))
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_similarity_heatmap(matrix, ax=None, title: Optional[str] = None,
                            cmap: str = "viridis", annotate: bool = False):
    """A culture x culture SimilarityMatrix (or {'cultures', 'values'}, x100) as
    a heatmap. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    cultures, values = _matrix_parts(matrix)
    values = np.asarray(values, dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.45 * len(cultures) + 2.5, 0.45 * len(cultures) + 1.5))
    else:
        fig = ax.figure
    shown = values.copy()
    np.fill_diagonal(shown, np.nan)  # the diagonal (100) would flatten the colour scale
    image = ax.imshow(shown, cmap=cmap)
    ax.set_xticks(range(len(cultures)))
    ax.set_xticklabels(cultures, rotation=90)
    ax.set_yticks(range(len(cultures)))
    ax.set_yticklabels(cultures)
    if annotate:
        for i in range(len(cultures)):
            for j in range(len(cultures)):
                if i != j and np.isfinite(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.0f}", ha="center", va="center", fontsize=6, color="white")
    fig.colorbar(image, ax=ax, label="alignment score (x100)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
