"""Constrained question generation (a program, not a test): acceptance and speed.

On SmolLM2-135M-Instruct (fetched into the culturespa cache on first use;
--model DIR for another checkpoint folder), with the reference's
question-generation prompts for WVS topics (the survey folder given by
--survey), prints side by side in one run:

  acceptance  questions the strict JSON rule accepts out of the attempts,
              free sampling (the reference's way) against sampling under
              JsonConstraint.question_schema()
  speed       decode tokens/s of the same prompts and sampling settings,
              constrained against free (each run twice, interleaved; the
              better of the two), and the ratio

    PYTHONPATH=python python benchmarks/constraint_bench.py --survey DIR [--attempts 16] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def strict_question(text: str) -> bool:
    """The reference's rule: the whole reply is JSON with a question and a list."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    if not isinstance(parsed, dict):
        return False
    question = parsed.get("Question", parsed.get("question"))
    options = parsed.get("Options", parsed.get("options"))
    return isinstance(question, str) and bool(question.strip()) and isinstance(options, list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--survey", required=True, help="WVS survey folder (seed questions)")
    parser.add_argument("--model", default="smollm2", help="smollm2 (default) or a checkpoint folder")
    parser.add_argument("--attempts", type=int, default=16, help="generation attempts per mode (default 16)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import culturespa
    from culturespa import pipeline

    culturespa.runtime_set_num_threads(args.threads)
    if args.model == "smollm2":
        from culturespa import models
        folder = str(models.smollm2_135m_instruct())
    else:
        folder = args.model
    model = culturespa.Model(folder)
    tokenizer = culturespa.Tokenizer.from_folder(folder)
    generator = culturespa.Generator(model, tokenizer, batch_size=16)
    survey = culturespa.Survey.load(args.survey)
    topics = pipeline.generation_topics(survey)

    qgen = culturespa.QuestionGenerator(generator, questions_per_topic=1)
    system = culturespa.PromptTemplates.reference().generate_system
    prompts = []
    for attempt in range(args.attempts):
        name, seeds = topics[attempt % len(topics)]
        prompts.append([{"role": "system", "content": system},
                        {"role": "user", "content": qgen.attempt_prompt(name, seeds, [], attempt)}])

    start = time.perf_counter()
    constraint = culturespa.JsonConstraint(culturespa.JsonConstraint.question_schema(), tokenizer)
    build_s = time.perf_counter() - start
    sampling = dict(max_new_tokens=args.max_new_tokens, temperature=0.9, top_p=0.95, seed=7)

    runs = {"free": [], "constrained": []}
    outputs = {}
    for _ in range(2):
        for mode in ("free", "constrained"):
            start = time.perf_counter()
            results = generator.generate(prompts, constraint=constraint if mode == "constrained" else None,
                                         **sampling)
            seconds = time.perf_counter() - start
            tokens = sum(len(r.tokens) for r in results)
            runs[mode].append((tokens / seconds, tokens, seconds))
            outputs[mode] = results

    print(f"model: {folder}; {args.attempts} question-generation prompts, T 0.9, top-p 0.95, "
          f"<= {args.max_new_tokens} new tokens, {args.threads} threads, batch 16")
    print(f"constraint built in {build_s:.2f} s; {constraint.cached_states} automaton states cached after the runs")
    print(f"{'mode':12s} {'accepted':>9s} {'complete':>9s} {'tokens':>7s} {'tokens/s':>9s}")
    for mode in ("free", "constrained"):
        results = outputs[mode]
        accepted = sum(strict_question(r.text) for r in results)
        complete = sum(r.stop_reason in ("complete", "stop_token") for r in results)
        best = max(runs[mode])
        print(f"{mode:12s} {accepted:4d}/{len(results):<4d} {complete:4d}/{len(results):<4d} {best[1]:7d} "
              f"{best[0]:9.1f}")
    ratio = max(runs["constrained"])[0] / max(runs["free"])[0]
    print(f"decode tokens/s, constrained / free: {ratio:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
