"""Evaluates a model on the WVS with the paper's P0 and P1 prompts (scored
protocol) and prints the results table, then the same with the options
reversed to see how much the answers follow the position.

    python examples/python/evaluate_wvs.py [--model smollm2-135m-instruct] [--cultures KEN DEU]

The survey is the fetched WVS-7 data (`culturespa data fetch wvs7`, or
`--from DIR` offline); the model a named model, a Hugging Face folder or a
.gguf file. Results go to ./evaluation-example (rerun to resume).
"""
import argparse

import culturespa
from culturespa import evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--cultures", nargs="+", default=["KEN", "DEU"])
    parser.add_argument("--output", default="evaluation-example")
    args = parser.parse_args()

    generator, label = evaluation.generator_for(args.model)
    survey = culturespa.data.survey_default()
    evaluator = culturespa.SurveyEvaluator(generator, survey, cultures=args.cultures, model=label,
                                           option_order="reversed")
    report = evaluator.evaluate(["P0", "P1"], args.output, progress=True)
    print(report.to_markdown())
    for row in report.rows:
        print(f"{row.method:28s} average {row.average:6.2f}")
    print(evaluation.report_frame(report)[["method", "culture", "alignment", "js_similarity"]])


if __name__ == "__main__":
    main()
