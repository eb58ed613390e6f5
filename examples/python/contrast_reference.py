"""Runs the pipeline's model-free stages on the reference release's data.

Filters the 13,000 questions Llama-3-8B-Instruct generated (keeping the
reference's 12,847), then finds the culture-related pairs in its real WVS
answers (culture-aware per country vs culture-unaware) with the reference
rule, and prints the counts. Needs ../shared beside the checkout (or
CULTURESPA_SHARED_DIR); without it, it says so and exits 0.

    PYTHONPATH=python python examples/python/contrast_reference.py
"""
import os
import sys
from pathlib import Path

import culturespa
from culturespa import pipeline

CULTURES = "USA CAN BOL BRA GBR NLD DEU UKR CHN RUS IND THA KEN NGA ETH ZWE AUS NZL".split()


def shared_dir():
    env = os.environ.get("CULTURESPA_SHARED_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    return path if path.is_dir() else None


def main() -> int:
    shared = shared_dir()
    if shared is None:
        print("../shared (the reference release's data) is absent; set CULTURESPA_SHARED_DIR "
              "to the folder holding reference-runs/ and wvs/ to run this example.")
        return 0
    runs = shared / "reference-runs/llama3-8b-instruct"

    # 1. Filter: merge the 13 topic files (topic order), renumber, filter.
    generated = pipeline.load_generated_questions(
        runs / f"generated-questions/generated_questions_topic_{k}_from_all_seed.json" for k in range(13))
    survey = culturespa.Survey.wvs7(str(shared / "wvs"))
    result = culturespa.QuestionFilter().apply(generated, survey.questions)
    print("question filter (reference rules):")
    for step, count in result.counts().items():
        print(f"  {step:22s} {count}")

    # 2. Contrast: reference rule, culture-aware per country vs unaware.
    _, unaware = pipeline.answer_file_load(str(runs / "wvs/wvs_result_culture_unaware_0.json"))
    aware = {code: pipeline.answer_file_load(str(runs / f"wvs/wvs_result_culture_aware_{code}_0.json"))[1]
             for code in CULTURES}
    contrast = culturespa.ContrastDetector().detect(survey.questions, unaware, aware)
    print("\ncontrast (reference rule) on the WVS runs:")
    print(contrast.counts_dataframe().to_string(index=False))
    print(f"\n{len(contrast)} culture-related (question, culture) pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
