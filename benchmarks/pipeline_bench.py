"""Pipeline benchmark (a program, not a test): generation, answering and contrast.

Prints how long each data-pipeline stage takes per 1,000 questions x 18
cultures, on a SmolLM-135M-shaped random checkpoint (hidden 576, 30 layers,
9 heads, 3 KV heads, intermediate 1536, float32; the shape of
benchmarks/model_bench.py) or on --checkpoint DIR (a real model with its
tokenizer, e.g. `culturespa model path smollm2-135m-instruct`):

  generate   self-instruct question generation (the reference's prompts and
             sampling, up to --gen-tokens new tokens), per 1,000 attempts
  answer     culture-unaware + 18 culture-aware runs (19,000 prompts per
             1,000 questions), option-scoring mode vs sampled mode
  contrast   the reference rule and the distributional rule on 1,000
             questions x 18 cultures of synthetic answers (measured in full)

Generation and answering are MEASURED ON A SUBSET (--gen-attempts attempts,
one round, of up to --gen-tokens new tokens; --questions questions x
--cultures cultures + the unaware run) AND SCALED linearly to 1,000
questions (attempts) x 18 cultures; the output says which figures are
scaled. A --gen-tokens below the reference's 256 is scaled to 256 from a
second, 1-token run that times the prompt pass. Random weights rarely emit an end-of-sequence
token, so sampled replies run to their token cap (a real model stops
earlier), and they write no parseable JSON, so generation is timed per
attempt, not per accepted question.

On a CPU with AVX-512 and OPENBLAS_CORETYPE unset, the benchmark sets
OPENBLAS_CORETYPE=SkylakeX before loading LibTorch: OpenBLAS 0.3.21 does not
recognise this project's virtualised Xeon and otherwise falls back to its
Prescott kernels, ~3x slower (see docs/generator.md).

    PYTHONPATH=python python benchmarks/pipeline_bench.py [--checkpoint DIR] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPE = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
             num_key_value_heads=3, max_position_embeddings=2048, rope_theta=10000.0, tie_word_embeddings=True)
CULTURES_18 = 18


def shared_dir() -> Path:
    return Path(os.environ.get("CULTURESPA_SHARED_DIR", ROOT.parent / "shared"))


def random_model(culturespa, work: Path, threads: int):
    """The SmolLM-135M shape with the LLaMA-2 tokenizer from ../shared (the
    test tokenizer when absent)."""
    llama2 = shared_dir() / "fixtures" / "tokenizers" / "llama2"
    if (llama2 / "tokenizer.model").exists() and culturespa.sentencepiece_available():
        tokenizer, chat_format, name = culturespa.Tokenizer.from_folder(str(llama2)), "chatml", "LLaMA-2 (32000)"
    else:
        folder = work / "tokenizer"
        culturespa.generator.write_test_tokenizer(folder)
        tokenizer, chat_format, name = culturespa.Tokenizer.from_folder(str(folder)), "chatml", "test BPE (272)"
    ckpt = work / f"smollm-shape-{tokenizer.vocab_size}"
    if not (ckpt / "config.json").exists():
        culturespa.testing.write_checkpoint(ckpt, vocab_size=tokenizer.vocab_size, **SHAPE)
    model = culturespa.Model(ckpt, threads=threads)
    return model, tokenizer, chat_format, f"SmolLM-135M-shaped random checkpoint, float32, tokenizer {name}"


def bench_questions(culturespa, count: int):
    """Generated questions as the pipeline answers them: the reference's
    (../shared) when present, else made-up ones of similar length."""
    bank = shared_dir() / "reference-runs" / "llama3-8b-instruct" / "generated-questions" / \
        "generated_questions_topic_0_from_all_seed.json"
    if bank.exists():
        items = json.loads(bank.read_text())[:count]
        return [{"Q_id": f"Q{i}", "question": it["question"], "option_lst": it["option_lst"], "class": it["class"]}
                for i, it in enumerate(items)], "the reference's generated questions (topic 0)"
    return [{"Q_id": f"Q{i}", "question": f"How important is aspect {i} of community life to you personally, "
             "compared with other aspects of your life?", "option_lst": ["Very important", "Rather important",
                                                                        "Not very important", "Not at all important"],
             "class": "Social Values"} for i in range(count)], "made-up questions (../shared absent)"


def seed_topics(culturespa):
    wvs = shared_dir() / "wvs"
    if (wvs / "wvs_questions.json").exists():
        survey = culturespa.Survey.wvs7(str(wvs))
        return culturespa.pipeline.generation_topics(survey)[:1]
    questions, _ = bench_questions(culturespa, 8)
    return [("Social Values, Attitudes & Stereotypes", questions)]


def avx512() -> bool:
    try:
        return " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - start, time.process_time() - cpu, value


def human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:8.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:8.1f} min"
    return f"{seconds / 3600:8.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="a model folder with its tokenizer (default: random)")
    parser.add_argument("--chat-format", default=None, help="chat format for --checkpoint (default: its template)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--questions", type=int, default=16, help="questions answered per run (measured)")
    parser.add_argument("--cultures", type=int, default=3, help="culture-aware runs measured (+ the unaware run)")
    parser.add_argument("--gen-attempts", type=int, default=4, help="generation attempts measured (one round)")
    parser.add_argument("--gen-tokens", type=int, default=256,
                        help="new-token cap of the measured generation (the reference's 256; a smaller cap is "
                             "scaled to 256)")
    parser.add_argument("--answer-tokens", type=int, default=32,
                        help="new-token cap of sampled answers (QuestionAnswerer's default)")
    parser.add_argument("--workdir", default=None, help="keeps the random checkpoint between runs")
    args = parser.parse_args()

    if "OPENBLAS_CORETYPE" not in os.environ and avx512():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"  # read when LibTorch loads OpenBLAS, below
        print("OPENBLAS_CORETYPE=SkylakeX set (AVX-512 CPU; OpenBLAS would fall back to Prescott kernels)")
    import torch
    import culturespa
    import culturespa.generator  # noqa: F401
    import culturespa.pipeline  # noqa: F401
    import culturespa.testing  # noqa: F401

    culturespa.runtime_set_num_threads(args.threads)
    culturespa.set_log_level("error")  # random weights: every generation topic stops at its attempt limit
    torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="culturespa-pipebench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.checkpoint:
        model = culturespa.Model(args.checkpoint, threads=args.threads)
        tokenizer = culturespa.Tokenizer.from_folder(args.checkpoint)
        chat_format, what = args.chat_format, f"{args.checkpoint} ({model.config.get('model_type', '?')})"
    else:
        model, tokenizer, chat_format, what = random_model(culturespa, work, args.threads)
    generator = culturespa.Generator(model, tokenizer, chat_format=chat_format, batch_size=args.batch_size)
    print(f"model: {what}; {args.threads} threads, batch {args.batch_size}; load {os.getloadavg()[0]:.1f}")

    # --- generation ---------------------------------------------------------
    topics = seed_topics(culturespa)

    def generation(max_new_tokens):
        qgen = culturespa.QuestionGenerator(generator, questions_per_topic=args.gen_attempts,
                                            round_size=args.gen_attempts, max_attempts_per_topic=args.gen_attempts,
                                            max_new_tokens=max_new_tokens)
        return timed(lambda: qgen.generate(topics))

    seconds, cpu, result = generation(args.gen_tokens)
    counts = result.counts()
    print(f"\ngenerate: {counts['attempts']} attempts (one round, <= {args.gen_tokens} new tokens) MEASURED in "
          f"{seconds:.1f} s ({cpu / counts['attempts']:.1f} CPU-s/attempt); replies: strict {counts['strict']}, "
          f"tolerant {counts['tolerant']}, unparseable {counts['unparseable']}")
    if args.gen_tokens >= 256:
        per_attempt = seconds / counts["attempts"]
        how = "SCALED  per 1,000 attempts"
    else:
        # A second run with 1 new token times the prompt pass, so that only
        # the decoding is scaled to 256 tokens.
        prompt_seconds, _, _ = generation(1)
        per_token = max(seconds - prompt_seconds, 0.0) / max(args.gen_tokens - 1, 1)
        per_attempt = (prompt_seconds + per_token * 255) / counts["attempts"]
        how = (f"SCALED  to 256 new tokens (prompt pass {prompt_seconds:.1f} s + 255 x the measured cost per "
               f"token), per 1,000 attempts")
    print(f"  {how}: {human(per_attempt * 1000)}\n          (= per 1,000 questions when every reply parses; "
          f"13 topics x 1,000 as the reference: {human(per_attempt * 13000).strip()})")

    # --- answering ----------------------------------------------------------
    questions, source = bench_questions(culturespa, args.questions)
    cultures = [c.code for c in culturespa.cultures_builtin()][:args.cultures]
    runs = 1 + len(cultures)
    prompts = runs * len(questions)
    scale = 1000 * (1 + CULTURES_18) / prompts
    print(f"\nanswer: {len(questions)} questions ({source}) x ({len(cultures)} cultures + unaware) = "
          f"{prompts} prompts measured; SCALED x{scale:.0f} to 1,000 questions x (18 cultures + unaware)")
    figures = {}
    for mode in ("scored", "sampled"):
        answerer = culturespa.QuestionAnswerer(generator, mode=mode, cultures=cultures,
                                               max_new_tokens=args.answer_tokens)
        folder = work / f"answers-{mode}-{os.getpid()}"
        seconds, cpu, answered = timed(lambda: answerer.answer(questions, folder))
        figures[mode] = seconds
        parsed = sum(r["parsed"] for r in answered.runs)
        label = "option scoring" if mode == "scored" else f"sampled, <= {args.answer_tokens} tokens"
        print(f"  {label:<28} {seconds:7.1f} s  {prompts / seconds:7.2f} prompts/s  "
              f"{cpu / prompts:6.3f} CPU-s/prompt  (replies the contrast rule reads: {parsed}/{prompts})")
        print(f"      SCALED  per 1,000 questions x 18 cultures: {human(seconds * scale)}")
    print(f"  sampled / scored time: {figures['sampled'] / figures['scored']:.1f}x")

    # --- contrast -----------------------------------------------------------
    rng = random.Random(0)
    n = 1000
    bank = [{"Q_id": f"Q{i}", "question": f"Question {i}?", "option_lst": ["a", "b", "c", "d"], "class": "T"}
            for i in range(n)]

    def answers():
        out = []
        for i in range(n):
            d = [rng.random() for _ in range(4)]
            out.append({"question_id": f"Q{i}", "reply": str(rng.randint(1, 4)), "distribution": d})
        return out

    unaware = answers()
    aware = {c.code: answers() for c in culturespa.cultures_builtin()}
    for rule in ("reference", "distributional"):
        detector = culturespa.ContrastDetector(rule=rule)
        seconds, _, found = timed(lambda: detector.detect(bank, unaware, aware))
        print(f"\ncontrast ({rule} rule): 1,000 questions x 18 cultures MEASURED in {seconds:.2f} s "
              f"({len(found)} pairs from random answers)")
    print(f"\nload after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
