"""The ``culturespa`` command line."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional


def _info(args: argparse.Namespace) -> int:
    import culturespa

    build = culturespa.build_info()
    runtime = culturespa.runtime_info()
    report = {"culturespa": culturespa.__version__, "build": build, "runtime": runtime}
    roundtrip = _sentencepiece_roundtrip(culturespa)
    report["sentencepiece_roundtrip"] = roundtrip
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if roundtrip["ok"] or not culturespa.sentencepiece_available() else 1
    print(f"culturespa {culturespa.__version__}")
    print(f"  built with     {build['compiler']} ({build['build_type']})")
    print(f"  LibTorch       {runtime['torch_version']} (compiled against {build['torch_version']}, "
          f"CUDA {'yes' if build['cuda'] else 'no'})")
    print(f"  BLAS           {runtime['blas']}"
          + (f"  [{runtime['blas_library']}]" if runtime["blas_library"] else ""))
    if runtime["blas_is_reference"]:
        print("  WARNING        the netlib reference BLAS is ~20x slower: "
              "apt-get install libopenblas0-openmp")
    print(f"  threads        {runtime['num_threads']} of {runtime['hardware_threads']} "
          f"({runtime['parallel']})")
    print(f"  devices        {', '.join(runtime['devices'])}")
    print(f"  sentencepiece  {build['sentencepiece']}: {roundtrip['detail']}")
    return 0 if roundtrip["ok"] or not culturespa.sentencepiece_available() else 1


def _sentencepiece_roundtrip(culturespa) -> dict:
    """Trains a tiny model in-process, in the same process as LibTorch, and
    checks that decode(encode(text)) gives the text back."""
    if not culturespa.sentencepiece_available():
        return {"ok": False, "detail": "not built in"}
    sentences = [
        "How important is family in your life?",
        "How important are friends in your life?",
        "Would you say that most people can be trusted?",
        "How satisfied are you with your life as a whole these days?",
        "Please tell me for each of the following actions whether it can always be justified.",
    ] * 20
    model = culturespa.SentencePieceModel.from_serialized(
        culturespa.sentencepiece_train(sentences, vocab_size=60))
    text = "How important is trust in your life?"
    ids = model.encode(text)
    back = model.decode(ids)
    return {"ok": back == text, "detail": f"{len(ids)} ids, round trip "
            + ("exact" if back == text else f"FAILED ({back!r})")}


def _score(args: argparse.Namespace) -> int:
    import math
    import os

    from .scoring import SurveyScorer

    survey = args.survey or os.environ.get("CULTURESPA_SURVEY")
    if not survey:
        raise ValueError("no survey: give --survey DIR (or set CULTURESPA_SURVEY)")
    scorer = SurveyScorer(survey, parse=args.parse, bootstrap_samples=args.bootstrap, seed=args.seed)
    culture = args.culture or scorer.culture_from_path(args.answers)
    if culture is None:
        raise ValueError(f"{args.answers}: no culture in the file name (a `_<ISO>_` part); "
                         "give --culture ISO, or --culture all for a culture-unaware run")
    if culture.lower() == "all":
        report = scorer.score_cultures(args.answers, source=args.answers)
        scores = report.cultures
    else:
        scores = [scorer.score(args.answers, culture, source=args.answers)]
        report = None

    def rounded(value: float):
        return None if math.isnan(value) else round(value, 2)

    def culture_json(score) -> dict:
        d = score.to_dict()
        for key in ("alignment", "ci_low", "ci_high", "random_baseline"):
            d[key] = rounded(d[key])
        d["topics"] = {topic: dict(t, alignment=rounded(t["alignment"])) for topic, t in d["topics"].items()}
        return d

    if report is None:
        result = culture_json(scores[0])
    else:
        result = {"alignment": rounded(report.average), "cultures": {s.culture: culture_json(s) for s in scores}}
    result.update(answers=args.answers, parse=args.parse)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for score in scores:
            counts = score.counts
            failures = ", ".join(f"{reason} {count}" for reason, count in sorted(counts["failures"].items()))
            shown = "n/a" if math.isnan(score.alignment) else f"{score.alignment:.2f}"
            print(f"{score.culture}\t{shown}\t{counts['counted']} of {counts['answered']} replies counted"
                  f" ({score.survey_questions} survey questions; parse failures: {failures or 'none'})")
        if report is not None:
            shown = "n/a" if math.isnan(report.average) else f"{report.average:.2f}"
            print(f"average\t{shown}")
    if all(s.counts["counted"] == 0 for s in scores):
        print(f"culturespa: error: {args.answers}: no reply counted (nothing parsed with a gold answer)",
              file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="culturespa", description=__doc__)
    parser.add_argument("--log-level", default=None,
                        help="debug, info, warning (default), error or off")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="versions, LibTorch build, BLAS, threads, devices")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=_info)

    score = sub.add_parser("score", help="score a run file (reference format) against a survey",
                           description="Prints the alignment score x100 (the paper's metric) of a run "
                                       "file, a JSON list of {\"Q_id\", \"answer\"} objects.")
    score.add_argument("--survey", default=None,
                       help="survey folder (the reference release) or culturespa survey file "
                            "(default: $CULTURESPA_SURVEY)")
    score.add_argument("--answers", required=True, help="the run file")
    score.add_argument("--culture", default=None,
                       help="culture code, or 'all' to score a culture-unaware run against every "
                            "culture (default: the `_<ISO>_` part of the file name)")
    score.add_argument("--parse", choices=["reference", "robust"], default="reference",
                       help="answer parsing rule (default: reference)")
    score.add_argument("--bootstrap", type=int, default=1000,
                       help="bootstrap resamples for the confidence interval (0: none)")
    score.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(run=_score)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_level:
        import logging

        import culturespa

        logging.basicConfig(format="%(name)s %(levelname)s: %(message)s")
        culturespa.set_log_level(args.log_level)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, OSError, RuntimeError) as error:
        print(f"culturespa: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
