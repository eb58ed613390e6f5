"""Scores one WVS question for three cultures and prints the answer distributions.

The model is a small random checkpoint written here, so the distributions are
noise: with a real instruction-tuned model (culturespa.Model("path/to/checkpoint")
and its own tokenizer) they are the model's culture-conditioned answers.
The tokenizer is the LLaMA-2 one from ../shared when present (else a small
test tokenizer); the question comes from ../shared/wvs when present (else a
copy of WVS Q1 made here).

    PYTHONPATH=python python examples/python/score_wvs_question.py [Q_ID]
"""
import os
import sys
import tempfile
from pathlib import Path

import culturespa
import culturespa.testing
from culturespa import survey as sv
from culturespa.generator import write_test_tokenizer

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("CULTURESPA_SHARED_DIR", ROOT.parent / "shared"))
CULTURES = ["USA", "CHN", "KEN"]


def main() -> None:
    question_id = sys.argv[1] if len(sys.argv) > 1 else "Q1"
    work = Path(tempfile.mkdtemp(prefix="culturespa-score-"))
    llama2 = SHARED / "fixtures" / "tokenizers" / "llama2"
    if (llama2 / "tokenizer.model").exists() and culturespa.sentencepiece_available():
        tokenizer, chat_format = culturespa.Tokenizer.from_folder(str(llama2)), "llama2"
    else:
        write_test_tokenizer(work)
        tokenizer, chat_format = culturespa.Tokenizer.from_folder(str(work)), "chatml"
    culturespa.testing.write_checkpoint(work / "model", vocab_size=tokenizer.vocab_size, hidden_size=128,
                                        intermediate_size=256, num_hidden_layers=4, seed=1)
    model = culturespa.Model(work / "model")

    if (SHARED / "wvs" / "wvs_questions.json").exists():
        survey = sv.Survey.wvs7(str(SHARED / "wvs"))
    else:
        question = sv.Question(id="Q1", text="For each of the following, indicate how important it is in your "
                               "life. Would you say it is: Family",
                               options=["Very important", "Rather important", "Not very important",
                                        "Not at all important"])
        survey = sv.Survey(name="demo", questions=[question],
                           cultures=[sv.culture_from_code(c) for c in CULTURES])

    generator = culturespa.Generator(model, tokenizer, chat_format=chat_format)
    prompts = [sv.prompt_build(survey, question_id, method="culture_aware", culture=c) for c in CULTURES]
    scores = generator.score_options([p.messages for p in prompts], prompts[0].labels)
    question = survey.question(question_id)
    print(f"{question_id}: {question.text}")
    for culture, probs, mass, best in zip(CULTURES, scores.probs, scores.allowed_mass, scores.argmax):
        shown = "  ".join(f"{label}:{p:.3f}" for label, p in zip(prompts[0].labels, probs))
        print(f"{culture}: {shown}   (mass on labels {mass:.3g}; argmax {prompts[0].labels[best]} = "
              f"{question.options[best]})")


if __name__ == "__main__":
    main()
