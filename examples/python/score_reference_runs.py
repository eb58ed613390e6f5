"""Scores the reference LLaMA-3-8B-Instruct runs: the culture-aware run of
each of the 18 cultures beside the culture-unaware run scored against every
culture, as the paper reports them (alignment x100), and draws them.

    python examples/python/score_reference_runs.py [--shared DIR] [--parse robust] [--out FIGURE.png]

DIR is ../shared beside the checkout by default (wvs/ and reference-runs/).
Also prints the culture x culture similarity of the model's culture-aware
answers and its rank correlation with the human one, and saves both
heatmaps next to FIGURE.
"""
import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import matplotlib.pyplot as plt  # noqa: E402

import culturespa  # noqa: E402
from culturespa import scoring  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared")
    parser.add_argument("--parse", choices=["reference", "robust"], default="reference")
    parser.add_argument("--out", type=Path, default=Path("score_reference_runs.png"))
    args = parser.parse_args()

    runs = args.shared / "reference-runs" / "llama3-8b-instruct" / "wvs"
    if not runs.is_dir():
        print(f"{runs} not found: this example needs the reference runs (../shared)", file=sys.stderr)
        return 1
    scorer = culturespa.SurveyScorer(str(args.shared / "wvs"), parse=args.parse, seed=0)
    cultures = scorer.cultures

    aware = scoring.score_runs(
        scorer, {c: runs / f"wvs_result_culture_aware_{c}_0.json" for c in cultures}, source="culture-aware")
    unaware = scorer.score_cultures(runs / "wvs_result_culture_unaware_0.json", source="culture-unaware")

    frame = scoring.report_frame([unaware, aware])
    table = frame.pivot(index="culture", columns="run", values="alignment").loc[cultures]
    table["gain"] = table["culture-aware"] - table["culture-unaware"]
    print(f"alignment x100 ({args.parse} parsing)\n")
    print(table.round(2).to_markdown() if hasattr(table, "to_markdown") and _has_tabulate() else table.round(2))
    print(f"\naverage: culture-unaware {unaware.average:.2f}, culture-aware {aware.average:.2f}")

    print(f"unparsed replies: {sum(c.counts.parse_failures for c in aware.cultures)} in the 18 "
          f"culture-aware runs, {unaware.cultures[0].counts.parse_failures} in the culture-unaware run")

    # Is culture-aware prompting really better, culture by culture? (paired bootstrap over questions)
    better = []
    for c in cultures:
        d = scorer.compare(runs / "wvs_result_culture_unaware_0.json",
                           runs / f"wvs_result_culture_aware_{c}_0.json", c)
        if d.ci_low > 0:
            better.append(f"{c} (+{d.difference:.2f}, 95% CI {d.ci_low:.2f}..{d.ci_high:.2f})")
    print(f"culture-aware better than culture-unaware beyond the 95% interval: {', '.join(better) or 'none'}")

    fig = scoring.plot_culture_bars({"culture-unaware": unaware, "culture-aware": aware},
                                    title=f"LLaMA-3-8B-Instruct on WVS-7 ({args.parse} parsing)")
    fig.savefig(args.out, dpi=120)
    print(f"saved {args.out}")

    model = scorer.culture_similarity({c: runs / f"wvs_result_culture_aware_{c}_0.json" for c in cultures})
    human = scorer.gold_similarity()
    rho = scoring.similarity_rank_correlation(model, human)
    print(f"Spearman correlation of the model's culture similarity with the human one: {rho:.3f}")
    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    scoring.plot_similarity_heatmap(human, ax=axes[0], title="people (gold answers)")
    scoring.plot_similarity_heatmap(model, ax=axes[1], title=f"model, culture-aware (Spearman {rho:.2f})")
    heatmaps = args.out.with_name(args.out.stem + "_similarity.png")
    fig.savefig(heatmaps, dpi=100)
    print(f"saved {heatmaps}")
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401  (pandas' to_markdown needs it)
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
