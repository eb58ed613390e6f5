"""Encode throughput (MB/s, one thread) of culturespa's tokenizers on mixed survey text.

Not a test: it prints figures. Beside culturespa it runs, on the same text in
the same process, Debian's python3-sentencepiece (LLaMA-2 tokenizer.model) and
Hugging Face `tokenizers` (reference) when they are importable.

    PYTHONPATH=python /work/main/.venv/bin/python benchmarks/tokenizer_bench.py [--mb 4]

The text: the WVS questions with their options and the CultureSPA prompts from
../shared/wvs when present, plus generated survey-like questions (persona
sentences with country names, digits, accented and non-Latin names), repeated
to the requested size. Needs ../shared/fixtures/tokenizers for the real
tokenizers; explains and exits 0 when it is absent.
"""
import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_dir():
    env = os.environ.get("CULTURESPA_SHARED_DIR")
    path = Path(env) if env else ROOT.parent / "shared"
    return path if path.is_dir() else None


def survey_text(shared, megabytes):
    rng = random.Random(0)
    pieces = []
    questions_file = shared / "wvs/wvs_questions.json"
    if questions_file.exists():
        for q in json.loads(questions_file.read_text()):
            options = " ".join(f"{i + 1}.{o}" for i, o in enumerate(q["option_lst"]))
            pieces.append(f"#Question: {q['question']}\n#Options: {options}\n")
    prompts_file = shared / "wvs/prompts.json"
    if prompts_file.exists():
        pieces += [v for v in json.loads(prompts_file.read_text()).values() if isinstance(v, str)]
    countries = ["Kenya", "Japan", "Brazil", "Deutschland", "Côte d'Ivoire", "México", "Россия",
                 "中国", "ประเทศไทย", "ኢትዮጵያ", "भारत", "مصر"]
    topics = ["family", "work", "religion", "politics", "friends", "leisure time", "science"]
    for i in range(2000):  # generated questions
        country, topic = rng.choice(countries), rng.choice(topics)
        pieces.append(f"You are a real person with a {country} cultural background. Q{i}: How important "
                      f"is {topic} in your life? 1.Very important 2.Rather important 3.Not very "
                      f"important 4.Not at all important ({rng.randint(1, 10)}/10)\n")
    rng.shuffle(pieces)
    text = "".join(pieces)
    repeats = max(1, int(megabytes * 1e6 / len(text.encode())) + 1)
    return (text * repeats)[: int(megabytes * 1e6)]


def chunks_of(text, size=16384):
    """~16 KB pieces cut at newlines: how prompts and documents reach a tokenizer
    (HF tokenizers slows down badly on one multi-megabyte string)."""
    out, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        out.append(text[start:end])
        start = end
    return out


def throughput(encode, text, rounds=3):
    chunks = chunks_of(text)
    encode(chunks[0])  # warm-up
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for chunk in chunks:
            encode(chunk)
        best = min(best, time.perf_counter() - start)
    return len(text.encode()) / 1e6 / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=4.0, help="megabytes of text (default 4)")
    args = parser.parse_args()
    shared = shared_dir()
    if shared is None or not (shared / "fixtures/tokenizers").is_dir():
        print("../shared/fixtures/tokenizers is absent (set CULTURESPA_SHARED_DIR): nothing to measure")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(ROOT / "python"))
    import culturespa
    fixtures = shared / "fixtures/tokenizers"
    text = survey_text(shared, args.mb)
    print(f"text: {len(text.encode()) / 1e6:.1f} MB of mixed survey text in ~16 KB pieces, one thread, best of 3\n")
    print(f"{'tokenizer':<34} {'implementation':<34} {'MB/s':>7}")
    rows = []

    def row(name, impl, encode):
        rate = throughput(encode, text)
        rows.append((name, impl, rate))
        print(f"{name:<34} {impl:<34} {rate:7.2f}", flush=True)

    try:
        import tokenizers
    except ImportError:
        tokenizers = None
    for folder, label in [("llama3-instruct", "LLaMA-3 (tokenizer.json)"),
                          ("qwen3", "Qwen3 (tokenizer.json)"),
                          ("mistral", "Mistral-7B (tokenizer.json)")]:
        ours = culturespa.Tokenizer.from_folder(str(fixtures / folder))
        row(label, "culturespa", lambda t, o=ours: o.encode(t, add_special_tokens=False))
        if tokenizers is not None:
            hf = tokenizers.Tokenizer.from_file(str(fixtures / folder / "tokenizer.json"))
            row(label, f"HF tokenizers {tokenizers.__version__}",
                lambda t, h=hf: h.encode(t, add_special_tokens=False))
    llama2 = fixtures / "llama2/tokenizer.model"
    if culturespa.sentencepiece_available():
        ours = culturespa.Tokenizer.from_folder(str(llama2))
        row("LLaMA-2 (tokenizer.model)", "culturespa (libsentencepiece)",
            lambda t: ours.encode(t, add_special_tokens=False))
    else:
        print(f"{'LLaMA-2 (tokenizer.model)':<34} {'culturespa':<34} {'n/a':>7}  (built without sentencepiece)")
    try:
        import sentencepiece
        spm = sentencepiece.SentencePieceProcessor(model_file=str(llama2))
        row("LLaMA-2 (tokenizer.model)", f"python3-sentencepiece {sentencepiece.__version__}",
            lambda t: spm.encode(t))
    except ImportError:
        print("python3-sentencepiece is not importable: no sentencepiece reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
