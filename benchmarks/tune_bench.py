"""LoRA benchmark (a program, not a test): training throughput and mixed-adapter scoring.

On a SmolLM2-135M-shaped random checkpoint (hidden 576, 30 layers, 9 heads,
3 KV heads, intermediate 1536, vocabulary 49152, tied embeddings) in float32
on the CPU with --threads threads (default 2), measured side by side in one
run, each side in its own process (so peak memory is its own):

  training   LoraTrainer (r 8, alpha 16, all linear layers) vs transformers +
             PEFT with torch.optim.AdamW, on the same batches of --batch
             (8) sequences of about --seq-len (128) tokens: tokens/s and
             peak resident memory (ru_maxrss).
  scoring    option scoring of --prompts prompts per culture (each naming
             its culture) for 18 cultures with 18 adapters loaded: (a)
             the base model alone on the same prompts,
             (b) every culture's adapter in shared mixed batches, (c)
             merging each culture's adapter in turn (merge, score, unmerge),
             (d) reloading: a fresh adapter_load per culture, scoring, unload.

    PYTHONPATH=python python benchmarks/tune_bench.py [--threads 2] [--layers 30] [--steps 4]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = dict(hidden_size=576, intermediate_size=1536, num_attention_heads=9, num_key_value_heads=3,
             vocab_size=49152, max_position_embeddings=2048, tie_word_embeddings=True)
CULTURES = ["ARG", "AUS", "BRA", "CAN", "CHN", "DEU", "ETH", "GBR", "IDN", "IND", "IRN", "JPN", "KEN", "MEX",
            "NGA", "RUS", "TUR", "USA"]


def conversations(args):
    """(steps + 1) x batch conversations of about seq_len tokens (the byte-level
    test tokenizer: one token per letter), the same on both sides."""
    import random
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz "
    out = []
    for _ in range((args.steps + 1) * args.batch):
        n = rng.randint(args.seq_len - 16, args.seq_len + 16)
        answer = rng.randint(4, 12)
        out.append([{"role": "user", "content": "".join(rng.choice(letters) for _ in range(n - answer - 12))},
                    {"role": "assistant", "content": "".join(rng.choice(letters) for _ in range(answer))}])
    return out


def train_culturespa(args) -> dict:
    from culturespa import _core
    _core.runtime_set_num_threads(args.threads)
    model = _core.Model(args.checkpoint)
    tokenizer = _core.Tokenizer.from_folder(args.checkpoint)
    trainer = _core.LoraTrainer(model, tokenizer, batch_size=args.batch, effective_batch=args.batch,
                                max_steps=args.steps + 1, shuffle=False, logging_steps=0, cutoff=100000,
                                chat_format="chatml")
    data = conversations(args)
    examples = trainer.tokenize(data)
    tokens = sum(len(e.input_ids) for e in examples[args.batch:])
    start = None
    times = []

    def tick(p):
        nonlocal start
        now = time.perf_counter()
        if start is not None:
            times.append(now - start)
        start = now
        return True

    trainer.train(data, callback=tick)  # the first step warms up and is not counted
    return dict(tokens_per_s=tokens / sum(times), peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                tokens=tokens)


def train_peft(args) -> dict:
    import torch
    import peft
    import transformers
    torch.set_num_threads(args.threads)
    from culturespa import _core
    tokenizer = _core.Tokenizer.from_folder(args.checkpoint)
    model = transformers.AutoModelForCausalLM.from_pretrained(args.checkpoint, torch_dtype=torch.float32,
                                                              attn_implementation="eager")
    model = peft.get_peft_model(model, peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                                                       target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                                       "gate_proj", "up_proj", "down_proj"]))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    # The same sequences as the culturespa side (tokenized by culturespa's trainer rules).
    trainer = _core.LoraTrainer(_core.Model(args.checkpoint), tokenizer, cutoff=100000, logging_steps=0,
                                chat_format="chatml")
    examples = trainer.tokenize(conversations(args))
    del trainer
    tokens, times = 0, []
    for s in range(args.steps + 1):
        rows = examples[s * args.batch:(s + 1) * args.batch]
        rows = sorted(rows, key=lambda e: -len(e.input_ids))
        width = max(len(e.input_ids) for e in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)
        for r, e in enumerate(rows):
            ids[r, :len(e.input_ids)] = torch.tensor(e.input_ids)
            mask[r, :len(e.input_ids)] = 1
            labels[r, e.prompt_tokens:len(e.input_ids)] = torch.tensor(e.input_ids[e.prompt_tokens:])
        start = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if s > 0:
            times.append(time.perf_counter() - start)
            tokens += sum(len(e.input_ids) for e in rows)
    return dict(tokens_per_s=tokens / sum(times), peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                tokens=tokens)


def scoring(args) -> dict:
    from culturespa import _core
    _core.runtime_set_num_threads(args.threads)
    model = _core.Model(args.checkpoint)
    tokenizer = _core.Tokenizer.from_folder(args.checkpoint)
    work = Path(args.work)
    for i, culture in enumerate(CULTURES):
        folder = work / "adapters" / culture
        if not folder.exists():
            _core.lora_adapter_write(str(folder), _core.lora_adapter_init(model, _core.LoraConfig(), seed=i, b_std=0.02))
        model.adapter_load(culture, str(folder))
    generator = _core.Generator(model, tokenizer, chat_format="chatml", batch_size=16)
    questions = [f"Question {q}: how important is {w} in your life?" for q, w in
                 enumerate(["family", "friends", "leisure time", "politics", "work", "religion", "tradition",
                            "security"][:args.prompts])]
    # Each culture's prompts name the culture (as the culture-aware P1 prompt
    # does), so the base model computes as many distinct prompts as the
    # adapters do: the same work on both sides. (With the culture-unaware
    # prompt under 18 adapters, the base model alone would compute each
    # prompt once and the adapters 18 times.)
    prompts, names = [], []
    for culture in CULTURES:
        for q in questions:
            prompts.append([{"role": "system",
                             "content": f"You are someone from {culture}. Answer with the number of one option only."},
                            {"role": "user", "content": q + " 1. Very important 2. Rather important "
                                                            "3. Not very important 4. Not at all important"}])
            names.append(culture)
    labels = [["1", "2", "3", "4"]]
    timings = {}
    start = time.perf_counter()
    generator.score_options(prompts, labels)
    timings["base"] = time.perf_counter() - start
    start = time.perf_counter()
    generator.score_options(prompts, labels, adapters=names)
    timings["mixed"] = time.perf_counter() - start
    start = time.perf_counter()
    for c, culture in enumerate(CULTURES):
        model.adapter_merge(culture)
        generator.score_options(prompts[c * len(questions):(c + 1) * len(questions)], labels)
    model.adapter_unmerge()
    timings["merge"] = time.perf_counter() - start
    for culture in CULTURES:
        model.adapter_unload(culture)
    start = time.perf_counter()
    for c, culture in enumerate(CULTURES):
        model.adapter_load(culture, str(work / "adapters" / culture))
        generator.score_options(prompts[c * len(questions):(c + 1) * len(questions)], labels,
                                adapters=[culture] * len(questions))
        model.adapter_unload(culture)
    timings["reload"] = time.perf_counter() - start
    return {k: len(prompts) / v for k, v in timings.items()}


def child(args, what: str) -> dict:
    command = [sys.executable, __file__, "--child", what] + [f"--{k.replace('_', '-')}={v}" for k, v in
                                                              dict(threads=args.threads, layers=args.layers,
                                                                   steps=args.steps, batch=args.batch,
                                                                   seq_len=args.seq_len, prompts=args.prompts,
                                                                   checkpoint=args.checkpoint,
                                                                   work=args.work).items()]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--steps", type=int, default=4, help="timed training steps (after one warm-up step)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--prompts", type=int, default=4, help="prompts per culture in the scoring runs")
    parser.add_argument("--only", choices=["train", "score"], default=None)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        runs = dict(culturespa=train_culturespa, peft=train_peft, score=scoring)
        print(json.dumps(runs[args.child](args)))
        return
    args.work = args.work or tempfile.mkdtemp(prefix="culturespa-tune-bench-")
    if not args.checkpoint:
        from culturespa import _core, testing
        args.checkpoint = str(Path(args.work) / "model")
        if not Path(args.checkpoint, "config.json").exists():
            testing.write_checkpoint(args.checkpoint, num_hidden_layers=args.layers, seed=1, **SHAPE)
            _core.testing_tokenizer_write(args.checkpoint)
    print(f"SmolLM2-135M shape, {args.layers} layers, float32, {args.threads} threads; "
          f"load average {os.getloadavg()[0]:.1f} (a shared machine skews absolute numbers)")
    if args.only in (None, "train"):
        ours, theirs = child(args, "culturespa"), child(args, "peft")
        print(f"training, batch {args.batch} x ~{args.seq_len} tokens, {args.steps} timed steps:")
        print(f"  culturespa LoraTrainer   {ours['tokens_per_s']:8.0f} tokens/s   peak {ours['peak_mb']:7.0f} MB")
        print(f"  transformers + PEFT      {theirs['tokens_per_s']:8.0f} tokens/s   peak {theirs['peak_mb']:7.0f} MB")
        print(f"  ratio: {ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}x throughput, "
              f"{ours['peak_mb'] / theirs['peak_mb']:.2f}x peak memory")
    if args.only in (None, "score"):
        s = child(args, "score")
        print(f"option scoring, 18 cultures x {args.prompts} prompts (prompts/s):")
        for key, label in [("base", "base model alone"), ("mixed", "18 adapters, mixed batches"),
                           ("merge", "merge/unmerge per culture"), ("reload", "load/unload per culture")]:
            print(f"  {label:28s} {s[key]:8.1f}")
        print(f"  ratios: mixed/base {s['mixed'] / s['base']:.2f}, mixed/merge {s['mixed'] / s['merge']:.2f}, "
              f"mixed/reload {s['mixed'] / s['reload']:.2f}")


if __name__ == "__main__":
    main()
