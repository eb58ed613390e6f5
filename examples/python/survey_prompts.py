"""Prints the culture-aware prompt that asks a Kenyan persona a WVS question,
with the answer labels option scoring uses.

    python examples/python/survey_prompts.py [SURVEY] [QUESTION_ID]

SURVEY is the reference release's folder (default ../shared/wvs beside the
checkout) or a culturespa survey file. When neither is there, the example
writes a one-question survey of its own and uses that.
"""
import json
import sys
import tempfile
from pathlib import Path

import culturespa

TINY_SURVEY = {
    "format": "culturespa.survey",
    "name": "tiny",
    "cultures": ["KEN", "USA"],
    "questions": [{
        "id": "Q1",
        "text": "How important is family in your life?",
        "options": ["Very important", "Rather important", "Not very important", "Not at all important"],
        "topic": "Social Values, Attitudes & Stereotypes",
    }],
    "human_answers": {"KEN": {"Q1": {"1": 0.97, "2": 0.02, "3": 0.01}}},
}


def main() -> None:
    default = Path(__file__).resolve().parents[3] / "shared" / "wvs"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    question_id = sys.argv[2] if len(sys.argv) > 2 else "Q1"
    if not path.exists():
        print(f"{path} not found: using a tiny survey written by this example", file=sys.stderr)
        path = Path(tempfile.gettempdir()) / "culturespa-example-survey.json"
        path.write_text(json.dumps(TINY_SURVEY, indent=1), encoding="utf-8")

    survey = culturespa.Survey.load(str(path))
    print(f"survey {survey.name!r}: {len(survey)} questions, {len(survey.evaluated_ids)} evaluated, "
          f"{len(survey.cultures)} cultures\n")

    prompts = culturespa.Prompts(survey)
    for message in prompts.culture_aware(question_id, "KEN"):
        print(f"[{message['role']}]\n{message['content']}\n")
    print("answer labels:", " ".join(prompts.labels(question_id)))
    gold = survey.gold("KEN", question_id)
    if gold is not None:
        print(f"Kenyan gold answer: {gold} ({survey.question(question_id).option_text(gold)})")
        print("human answers:", survey.human_answers("KEN", question_id))


if __name__ == "__main__":
    main()
