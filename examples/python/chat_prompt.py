"""Prints the LLaMA-3-Instruct chat prompt and token ids of a World Values Survey question.

    PYTHONPATH=python python examples/python/chat_prompt.py [path/to/llama3-instruct]

Without an argument it uses ../shared/fixtures/tokenizers/llama3-instruct (or
$CULTURESPA_SHARED_DIR/...); when that is absent it says so and exits 0.
"""
import os
import sys
from pathlib import Path

import culturespa
from culturespa.text import chat_prompt


def llama3_folder():
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    shared = os.environ.get("CULTURESPA_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared"
    folder = Path(shared) / "fixtures/tokenizers/llama3-instruct"
    return folder if folder.is_dir() else None


def main():
    folder = llama3_folder()
    if folder is None:
        print("No LLaMA-3 tokenizer folder found (../shared/fixtures/tokenizers/llama3-instruct is "
              "absent): pass a folder with tokenizer.json and tokenizer_config.json.")
        return 0
    tokenizer = culturespa.Tokenizer.from_folder(str(folder))
    messages = [
        {"role": "system", "content": "You are a real person with a Kenyan cultural background. Please "
         "fill out the World Values Survey and answer the questions honestly according to your own "
         "value system."},
        {"role": "user", "content": "Given a #Question and #Options, choose the option that best aligns "
         "with your own value system to answer the question.\n#Question: How important is family in "
         "your life?\n#Options: 1.Very important 2.Rather important 3.Not very important 4.Not at all "
         "important\nPlease return the number of the selected option only."},
    ]
    text, ids = chat_prompt(tokenizer, messages)
    print(f"tokenizer: {tokenizer.description}, chat format {tokenizer.chat_format()!r}")
    print("--- prompt ---")
    print(text)
    print("--- ids ---")
    print(ids)
    print("stop ids:", [(i, tokenizer.id_to_token(i)) for i in tokenizer.stop_ids])
    return 0


if __name__ == "__main__":
    sys.exit(main())
