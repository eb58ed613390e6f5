"""Fetches SmolLM2-135M-Instruct (once per machine) and asks it one WVS
question as a Kenyan and as a German respondent, printing the distribution
over the answer options (the next-token probabilities of the option numbers,
renormalised).

    PYTHONPATH=python python examples/python/smollm2_fetch.py [--dest DIR]

Uses culturespa's model backend when it is built in (culturespa.Model),
transformers otherwise.
"""
import argparse

import torch

import culturespa
from culturespa import models

SYSTEM = ("You are a real person with {} {} cultural background. Please fill out the World Values "
          "Survey and answer the questions honestly according to your own value system.")
USER = ("Given a #Question and #Options, choose the option that best aligns with your own value "
        "system to answer the question.\n#Question: {}\n#Options: {}\n"
        "Please return the number of the selected option only.")
QUESTION = "How important is religion in your life?"
OPTIONS = ["Very important", "Rather important", "Not very important", "Not at all important"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=None, help="folder for the converted model (default: the cache)")
    args = parser.parse_args()

    folder = models.smollm2_135m_instruct(args.dest)
    print(f"model folder: {folder}")

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if hasattr(culturespa, "Model"):
        model = culturespa.Model(str(folder), device="cpu")
        last_logits = lambda ids: model.forward(torch.tensor([ids])).reshape(-1)  # noqa: E731
        backend = "culturespa"
    else:
        from transformers import AutoModelForCausalLM

        hf = AutoModelForCausalLM.from_pretrained(str(folder), torch_dtype=torch.float32).eval()
        last_logits = lambda ids: hf(torch.tensor([ids])).logits[0, -1]  # noqa: E731
        backend = "transformers"

    option_tokens = [tokenizer.convert_tokens_to_ids(str(i)) for i in range(1, len(OPTIONS) + 1)]
    options = " ".join(f"{i}.{text}" for i, text in enumerate(OPTIONS, start=1))
    print(f"backend: {backend}\nquestion: {QUESTION}\noptions:  {options}")
    for article, culture in [("a", "Kenyan"), ("a", "German")]:
        messages = [{"role": "system", "content": SYSTEM.format(article, culture)},
                    {"role": "user", "content": USER.format(QUESTION, options)}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        with torch.no_grad():
            probabilities = torch.softmax(last_logits(ids)[option_tokens].float(), dim=0)
        shares = "  ".join(f"{i}: {p:.3f}" for i, p in enumerate(probabilities.tolist(), start=1))
        print(f"{culture:>7}: {shares}")


if __name__ == "__main__":
    main()
