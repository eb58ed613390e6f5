"""The Inglehart-Welzel cultural map from WVS-7 answer shares (docs/evaluation.md,
"The Inglehart-Welzel cultural map").

A country-level approximation of the WVS's map: its ten indicators, each
computed from a culture's answer shares (human proportions, or a model's
option distributions / answers), standardised over the survey's cultures'
human values, and averaged with equal weights per dimension:

- traditional (-) vs secular-rational (+): importance of God (Q164, -),
  autonomy index (Q8 + Q14 - Q15 - Q17 "Yes" shares), abortion justifiable
  (Q184, +), national pride (Q254 mean, + = less proud), respect for
  authority (Q45 mean, + = "bad thing");
- survival (-) vs self-expression (+): happiness (Q46 mean, - = happier is +),
  homosexuality justifiable (Q182, +), petition (Q209 mean, - = done is +),
  trust (Q57 "most people" share, +), post-materialism (Q154/Q155: shares of
  "more say" and "free speech" minus "order" and "prices", +).

The published map uses individual answers and fixed factor loadings; this
uses only per-country shares and equal weights: positions are comparable
between the human and the model points of one map, not with the published
map's numbers.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence, Tuple

Shares = Mapping[str, Mapping[int, float]]  # question id -> option id -> share

# (dimension, name, function of a culture's shares, sign)
TRADITIONAL_SECULAR = "traditional_secular"
SURVIVAL_SELF_EXPRESSION = "survival_self_expression"


def _normalised(shares: Mapping[int, float]) -> Dict[int, float]:
    total = sum(shares.values())
    return {int(k): v / total for k, v in shares.items()} if total > 0 else {}


def _mean(shares: Shares, qid: str) -> Optional[float]:
    s = _normalised(shares.get(qid, {}))
    return sum(k * v for k, v in s.items()) if s else None


def _share(shares: Shares, qid: str, options: Sequence[int]) -> Optional[float]:
    s = _normalised(shares.get(qid, {}))
    return sum(s.get(o, 0.0) for o in options) if s else None


def _autonomy(shares: Shares) -> Optional[float]:
    parts = [_share(shares, q, [1]) for q in ("Q8", "Q14", "Q15", "Q17")]
    if any(p is None for p in parts):
        return None
    return parts[0] + parts[1] - parts[2] - parts[3]


def _postmaterialism(shares: Shares) -> Optional[float]:
    first = [_share(shares, "Q154", [2, 4]), _share(shares, "Q154", [1, 3])]
    second = [_share(shares, "Q155", [2, 4]), _share(shares, "Q155", [1, 3])]
    if any(p is None for p in first + second):
        return None
    return (first[0] - first[1] + second[0] - second[1]) / 2


# Each indicator: (dimension, name, value function, sign so that + points to
# secular-rational / self-expression).
INDICATORS = [
    (TRADITIONAL_SECULAR, "importance of God (Q164)", lambda s: _mean(s, "Q164"), -1),
    (TRADITIONAL_SECULAR, "autonomy index (Q8, Q14, Q15, Q17)", _autonomy, +1),
    (TRADITIONAL_SECULAR, "abortion justifiable (Q184)", lambda s: _mean(s, "Q184"), +1),
    (TRADITIONAL_SECULAR, "national pride (Q254)", lambda s: _mean(s, "Q254"), +1),
    (TRADITIONAL_SECULAR, "respect for authority (Q45)", lambda s: _mean(s, "Q45"), +1),
    (SURVIVAL_SELF_EXPRESSION, "happiness (Q46)", lambda s: _mean(s, "Q46"), -1),
    (SURVIVAL_SELF_EXPRESSION, "homosexuality justifiable (Q182)", lambda s: _mean(s, "Q182"), +1),
    (SURVIVAL_SELF_EXPRESSION, "signing a petition (Q209)", lambda s: _mean(s, "Q209"), -1),
    (SURVIVAL_SELF_EXPRESSION, "most people can be trusted (Q57)", lambda s: _share(s, "Q57", [1]), +1),
    (SURVIVAL_SELF_EXPRESSION, "post-materialism (Q154, Q155)", _postmaterialism, +1),
]
QUESTION_IDS = ["Q8", "Q14", "Q15", "Q17", "Q45", "Q46", "Q57", "Q154", "Q155", "Q164", "Q182", "Q184",
                "Q209", "Q254"]


def human_shares(survey, culture: str) -> Dict[str, Dict[int, float]]:
    """A culture's human answer shares of the map's questions."""
    out = {}
    for qid in QUESTION_IDS:
        answers = survey.human_answers(culture, qid)
        if answers:
            out[qid] = {int(k): float(v) for k, v in answers.items()}
    return out


def answer_shares(items, survey) -> Dict[str, Dict[int, float]]:
    """A result file's answers (its JSON items) as shares: the distribution in
    scored mode, else the parsed answer (reference rule) as one option."""
    import re

    out = {}
    for item in items:
        qid = item["Q_id"]
        if qid not in QUESTION_IDS:
            continue
        first = survey.question(qid).first_option_id
        if item.get("distribution"):
            out[qid] = {first + k: float(p) for k, p in enumerate(item["distribution"])}
        else:
            match = re.search(r"\d+", str(item.get("answer") or ""))
            if match:
                out[qid] = {int(match.group()): 1.0}
    return out


def indicator_values(shares: Shares) -> Dict[str, Optional[float]]:
    return {name: fn(shares) for _, name, fn, _ in INDICATORS}


def positions(human: Mapping[str, Shares], model: Optional[Mapping[str, Shares]] = None
              ) -> Tuple[Dict[str, Tuple[float, float]], Dict[str, Tuple[float, float]]]:
    """Map positions (traditional-secular, survival-self-expression) of each
    culture's human answers and, when given, of the model's answers. Every
    indicator is standardised with the mean and SD of the human values over
    the cultures, signed, and averaged per dimension (indicators a culture
    lacks left out)."""
    values = {c: indicator_values(s) for c, s in human.items()}
    stats = {}
    for _, name, _, _ in INDICATORS:
        column = [v[name] for v in values.values() if v[name] is not None]
        mean = sum(column) / len(column) if column else 0.0
        sd = math.sqrt(sum((x - mean) ** 2 for x in column) / max(1, len(column) - 1)) if len(column) > 1 else 0.0
        stats[name] = (mean, sd or 1.0)

    def place(v: Dict[str, Optional[float]]) -> Tuple[float, float]:
        axes = {TRADITIONAL_SECULAR: [], SURVIVAL_SELF_EXPRESSION: []}
        for dimension, name, _, sign in INDICATORS:
            if v[name] is not None:
                mean, sd = stats[name]
                axes[dimension].append(sign * (v[name] - mean) / sd)
        return tuple(sum(a) / len(a) if a else float("nan") for a in
                     (axes[TRADITIONAL_SECULAR], axes[SURVIVAL_SELF_EXPRESSION]))

    human_points = {c: place(v) for c, v in values.items()}
    model_points = {c: place(indicator_values(s)) for c, s in (model or {}).items()}
    return human_points, model_points


def plot(human_points, model_points, path=None, *, title: str = "Inglehart-Welzel cultural map (WVS-7 shares)",
         axes=None):
    """Draws the map: human positions (dots) with an arrow to the model's
    position for the same culture, into ``axes`` when given, else into a new
    figure on its own Agg canvas (matplotlib's global backend is left alone).
    Saves to ``path`` when given; returns the figure."""
    if axes is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(8, 6.5))
        FigureCanvasAgg(figure)
        axes = figure.subplots()
    else:
        figure = axes.figure
    for culture, (x, y) in human_points.items():
        axes.scatter([y], [x], color="tab:blue", zorder=3)
        axes.annotate(culture, (y, x), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if culture in model_points and not any(math.isnan(v) for v in model_points[culture]):
            mx, my = model_points[culture]
            axes.annotate("", xy=(my, mx), xytext=(y, x),
                          arrowprops=dict(arrowstyle="->", color="tab:red", alpha=0.6))
            axes.scatter([my], [mx], color="tab:red", marker="x", zorder=3)
    axes.set_xlabel("survival  <-  ->  self-expression (z, mean of 5 indicators)")
    axes.set_ylabel("traditional  <-  ->  secular-rational (z, mean of 5 indicators)")
    axes.set_title(title)
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.axvline(0, color="grey", linewidth=0.5)
    axes.scatter([], [], color="tab:blue", label="people (WVS-7 shares)")
    axes.scatter([], [], color="tab:red", marker="x", label="model")
    axes.legend(loc="best")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure


def from_folder(survey, folder, cultures: Sequence[str], *, method: str = "culture_aware", run: int = 0,
                prefix: str = "wvs_result"):
    """(human points, model points) for the cultures' result files of
    ``method`` in an evaluation folder."""
    import json
    import os

    from ._core import evaluation_result_path

    human = {c: human_shares(survey, c) for c in cultures}
    model = {}
    for culture in cultures:
        path = evaluation_result_path(os.fspath(folder), method, culture, run, prefix)
        with open(path, encoding="utf-8") as stream:
            model[culture] = answer_shares(json.load(stream), survey)
    return positions(human, model)
