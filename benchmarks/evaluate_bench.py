"""Evaluation throughput: culturespa's scored protocol against the two ways
people evaluate a model on the WVS with transformers, side by side in one run
on the same model and the same culture-aware prompts.

1. culturespa scored: ``SurveyEvaluator`` (option scoring, batched, the
   culture's system prompt computed once), writing its result files.
2. The reference protocol: transformers ``generate`` one prompt at a time,
   sampled (temperature 0.6, top-p 0.9, at most 256 new tokens), as the
   reference release runs it.
3. lm-eval-harness-style option scoring in transformers: one forward pass per
   prompt + option continuation, in padded batches, the continuation's
   log-probability summed, argmax over options.

Prints prompts per second of each and the ratios (targets: >= 20x the
reference protocol, >= 3x the lm-eval-style scoring). The machine's load is
printed beside the figures: compare ratios, not absolute times, on a shared
machine.

    python benchmarks/evaluate_bench.py [--model DIR] [--questions 60] [--reference-prompts 6]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="HF folder (default: SmolLM2-135M-Instruct, fetched)")
    parser.add_argument("--survey", default=None, help="survey (default: the fetched wvs7 data)")
    parser.add_argument("--culture", default="KEN")
    parser.add_argument("--questions", type=int, default=60, help="WVS questions (every k-th of the 259)")
    parser.add_argument("--reference-prompts", type=int, default=6,
                        help="prompts for the (slow) reference protocol")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import transformers

    import culturespa
    from culturespa import data, models

    torch.set_num_threads(args.threads)
    culturespa.runtime_set_num_threads(args.threads)
    model_dir = args.model or str(models.smollm2_135m_instruct())
    survey = data.survey_default(args.survey)
    ids = survey.evaluated_ids
    step = max(1, len(ids) // args.questions)
    keep = set(ids[::step][: args.questions])
    for qid in ids:
        if qid not in keep:
            survey.set_evaluated(qid, False)
    n = len(survey.evaluated_ids)
    print(f"model {model_dir}\n{n} WVS questions, culture-aware prompts for {args.culture}, "
          f"{args.threads} threads; {_load()}")

    # 1. culturespa scored
    generator = culturespa.Generator(culturespa.Model(model_dir), culturespa.Tokenizer.from_folder(model_dir),
                                     batch_size=args.batch_size)
    evaluator = culturespa.SurveyEvaluator(generator, survey, cultures=[args.culture], model="bench",
                                           bootstrap_samples=0)
    prompts = evaluator.prompts("P1", args.culture)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        evaluator.evaluate(["P1"], out)
        cs_seconds = time.perf_counter() - started
    cs_rate = n / cs_seconds
    print(f"culturespa scored            {cs_rate:8.2f} prompts/s  ({n} prompts in {cs_seconds:.1f} s)")

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    hf = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    conversations = [[dict(m) for m in p.messages] for p in prompts]

    # 2. the reference protocol: sampled, one prompt at a time
    torch.manual_seed(42)
    k = min(args.reference_prompts, n)
    started = time.perf_counter()
    new_tokens = 0
    for conversation in conversations[:k]:
        ids_ = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt")
        with torch.no_grad():
            out = hf.generate(ids_, attention_mask=torch.ones_like(ids_), do_sample=True, temperature=0.6,
                              top_p=0.9, max_new_tokens=256, pad_token_id=tokenizer.eos_token_id)
        new_tokens += out.shape[1] - ids_.shape[1]
    ref_seconds = time.perf_counter() - started
    ref_rate = k / ref_seconds
    print(f"reference (generate, 1 by 1) {ref_rate:8.2f} prompts/s  ({k} prompts in {ref_seconds:.1f} s, "
          f"{new_tokens / k:.0f} new tokens each)")

    # 3. lm-eval-harness style: a forward pass per prompt + option, batched
    requests = []
    for conversation, prompt in zip(conversations, prompts):
        rendered = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        context = tokenizer(rendered, add_special_tokens=False).input_ids
        for label in prompt.labels:
            continuation = tokenizer(rendered + label, add_special_tokens=False).input_ids[len(context):]
            requests.append((context, continuation))
    started = time.perf_counter()
    scores = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for b in range(0, len(requests), args.batch_size):
        batch = requests[b:b + args.batch_size]
        rows = [c + t for c, t in batch]
        width = max(len(r) for r in rows)
        ids_ = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids_[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        with torch.no_grad():
            logprobs = torch.log_softmax(hf(ids_, attention_mask=mask).logits.float(), dim=-1)
        for i, (context, continuation) in enumerate(batch):
            positions = range(len(context) - 1, len(context) + len(continuation) - 1)
            scores.append(sum(float(logprobs[i, p, t]) for p, t in zip(positions, continuation)))
    lm_seconds = time.perf_counter() - started
    lm_rate = n / lm_seconds
    print(f"lm-eval-style option scoring {lm_rate:8.2f} prompts/s  ({len(requests)} prompt+option passes "
          f"in {lm_seconds:.1f} s)")
    print(f"ratio culturespa / reference protocol:  {cs_rate / ref_rate:7.1f}x  (target >= 20x)")
    print(f"ratio culturespa / lm-eval-style:       {cs_rate / lm_rate:7.1f}x  (target >= 3x)")
    print(_load())


if __name__ == "__main__":
    main()
