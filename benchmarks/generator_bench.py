"""Generator benchmark (a program, not a test): the WVS evaluation workload.

On a SmolLM-135M-shaped random checkpoint (hidden 576, 30 layers, 9 heads,
3 KV heads, intermediate 1536, vocabulary sized to the tokenizer) in float32,
with the LLaMA-2 tokenizer of ../shared/fixtures/tokenizers/llama2 (the test
tokenizer when absent), builds the culture-aware prompts of the evaluated WVS
questions (../shared/wvs; every 8th question by default, --all for all 259)
for the 18 cultures with the reference templates, and prints prompts/s for:

  (a) option scoring with prefix reuse
  (b) option scoring without prefix reuse
  (c) batched sampling of up to 8 new tokens, temperature 0.6, top-p 0.9
  (d) the reference way: one prompt at a time, sampling up to 8 tokens with
      the plain PyTorch model of tests/model/reference_llama.py (on the
      first --reference-prompts prompts)

    PYTHONPATH=python python benchmarks/generator_bench.py [--all] [--threads 2] [--model smollm2]

--model smollm2 runs the same workload on the real SmolLM2-135M-Instruct
(the converted Q4_1 weights in float32, its own byte-level BPE tokenizer and
ChatML template; fetched into the culturespa cache on first use); --model
DIR runs it on any checkpoint folder with its tokenizer. The random shape
(the default) needs no download.

On this project's machines OpenBLAS 0.3.21 does not recognise the CPU (a
virtualised "Intel Xeon Processor") and falls back to its Prescott kernels;
the PyTorch reference then runs on them, and culturespa's fused CPU path uses
oneDNN for its matrix products (culturespa.runtime_info()["blas_core_outdated"];
docs/model-backend.md). Set OPENBLAS_CORETYPE=SkylakeX in the environment to give
both OpenBLAS's AVX-512 kernels.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPE = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
             num_key_value_heads=3, max_position_embeddings=2048, rope_theta=10000.0, tie_word_embeddings=True)


def shared_dir() -> Path:
    return Path(os.environ.get("CULTURESPA_SHARED_DIR", ROOT.parent / "shared"))


def load_tokenizer(culturespa, work: Path):
    llama2 = shared_dir() / "fixtures" / "tokenizers" / "llama2"
    if (llama2 / "tokenizer.model").exists() and culturespa.sentencepiece_available():
        return culturespa.Tokenizer.from_folder(str(llama2)), "llama2", "LLaMA-2 (sentencepiece, 32000)"
    folder = work / "tokenizer"
    culturespa.generator.write_test_tokenizer(folder)
    return culturespa.Tokenizer.from_folder(str(folder)), "chatml", "test byte-level BPE (272)"


def wvs_prompts(culturespa, every: int):
    from culturespa import survey as sv
    survey = sv.Survey.wvs7(str(shared_dir() / "wvs"))
    prompts = []
    for culture in survey.cultures:
        prompts += sv.prompt_build_all(survey, method="culture_aware", culture=culture.code)[::every]
    return prompts


def sample_reference(model, ids, torch, generator, max_new=8, temperature=0.6, top_p=0.9):
    """The reference evaluation loop: one prompt, KV cache, top-p sampling."""
    logits, past = model.forward(torch.tensor([ids]), last_only=True)
    out = []
    for _ in range(max_new):
        probs = torch.softmax(logits[0, -1] / temperature, -1)
        sorted_probs, order = probs.sort(descending=True)
        keep = (sorted_probs.cumsum(-1) - sorted_probs) < top_p
        sorted_probs = sorted_probs * keep
        token = int(order[torch.multinomial(sorted_probs, 1, generator=generator)])
        out.append(token)
        logits, past = model.forward(torch.tensor([[token]]), past=past, last_only=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="all 259 evaluated questions (default: every 8th)")
    parser.add_argument("--every", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--reference-prompts", type=int, default=12)
    parser.add_argument("--workdir", default=None, help="keeps the checkpoint between runs")
    parser.add_argument("--weight-types", default="",
                        help="comma-separated: float32,bfloat16,q8_0 (with --model smollm2): (e) below")
    parser.add_argument("--llama-python", default=None, help="a Python with llama-cpp-python "
                        "(default: .bench-venv/bin/python when it exists)")
    parser.add_argument("--model", default="random",
                        help="random (SmolLM-135M shape, default), smollm2 (SmolLM2-135M-Instruct), "
                             "or a checkpoint folder")
    args = parser.parse_args()

    import torch
    import culturespa
    import culturespa.generator  # noqa: F401
    import culturespa.testing  # noqa: F401

    culturespa.runtime_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="culturespa-genbench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.model == "random":
        tokenizer, chat_format, tokenizer_name = load_tokenizer(culturespa, work)
        ckpt = work / f"smollm-shape-{tokenizer.vocab_size}"
        if not (ckpt / "config.json").exists():
            culturespa.testing.write_checkpoint(ckpt, vocab_size=tokenizer.vocab_size, **SHAPE)
        model_name = "SmolLM-135M shape (random weights)"
    else:
        if args.model == "smollm2":
            from culturespa import models
            ckpt, model_name = models.smollm2_135m_instruct(), "SmolLM2-135M-Instruct (Q4_1 dequantised)"
        else:
            ckpt, model_name = Path(args.model), args.model
        tokenizer, chat_format = culturespa.Tokenizer.from_folder(str(ckpt)), None
        tokenizer_name = f"the model's own ({tokenizer.vocab_size})"
    model = culturespa.Model(ckpt, threads=args.threads)

    prompts = wvs_prompts(culturespa, 1 if args.all else args.every)
    conversations = [p.messages for p in prompts]
    labels = [list(p.labels) for p in prompts]
    n = len(prompts)
    encoder = culturespa.Generator(model, tokenizer, chat_format=chat_format)
    lengths = [len(encoder.encode(c)) for c in conversations[:50]]
    print(f"workload: {n} prompts ({n // 18} questions x 18 cultures, culture-aware, reference templates); "
          f"tokenizer {tokenizer_name}, chat format {encoder.chat_format}; prompt tokens ~{sum(lengths) // len(lengths)} "
          f"(first 50: {min(lengths)}..{max(lengths)})")
    print(f"model: {model_name}, float32, {args.threads} threads, batch {args.batch_size}")
    print(f"load before: {os.getloadavg()}")

    cpu_rates = {}

    def timed(label, fn, count):
        # Wall time and process CPU time (all threads): on a shared machine the
        # CPU seconds per prompt are the steadier figure.
        start, cpu_start = time.perf_counter(), time.process_time()
        fn()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        rate = count / seconds
        cpu_rates[label[:3]] = count / cpu
        print(f"{label:<58} {count:5d} prompts {seconds:8.1f} s {rate:8.2f} prompts/s "
              f"{cpu / count:8.3f} CPU-s/prompt  load {os.getloadavg()[0]:.1f}", flush=True)
        return rate

    reuse = culturespa.Generator(model, tokenizer, chat_format=chat_format, batch_size=args.batch_size)
    plain = culturespa.Generator(model, tokenizer, chat_format=chat_format, batch_size=args.batch_size,
                                 prefix_reuse=False)
    results = {}
    scores = {}
    results["a"] = timed("(a) option scoring, prefix reuse",
                         lambda: scores.__setitem__("a", reuse.score_options(conversations, labels)), n)
    results["b"] = timed("(b) option scoring, no prefix reuse",
                         lambda: scores.__setitem__("b", plain.score_options(conversations, labels)), n)
    import numpy as np
    diff = np.nanmax(np.abs(scores["a"].probs - scores["b"].probs))
    print(f"    max |p(a) - p(b)| = {diff:.2e}")
    results["c"] = timed("(c) batched sampling, <= 8 tokens, T 0.6, top-p 0.9",
                         lambda: reuse.generate(conversations, max_new_tokens=8, temperature=0.6, top_p=0.9,
                                                seed=1), n)
    sys.path.insert(0, str(ROOT / "tests" / "model"))
    from reference_llama import ReferenceLM
    reference = ReferenceLM(ckpt)
    subset = [reuse.encode(c) for c in conversations[:args.reference_prompts]]
    rng = torch.Generator().manual_seed(0)
    results["d"] = timed("(d) reference: one prompt at a time, PyTorch, <= 8 tokens",
                         lambda: [sample_reference(reference, ids, torch, rng) for ids in subset], len(subset))
    print(f"load after: {os.getloadavg()}")
    print(f"ratios: (a)/(d) = {results['a'] / results['d']:.1f}x (target >= 20), "
          f"(a)/(b) = {results['a'] / results['b']:.2f}x (target >= 1.3), "
          f"(c)/(d) = {results['c'] / results['d']:.1f}x")
    print(f"by CPU time: (a)/(d) = {cpu_rates['(a)'] / cpu_rates['(d)']:.1f}x, "
          f"(a)/(b) = {cpu_rates['(a)'] / cpu_rates['(b)']:.2f}x, (c)/(d) = {cpu_rates['(c)'] / cpu_rates['(d)']:.1f}x")
    if args.weight_types:
        weight_types_section(args, culturespa, tokenizer, chat_format, conversations, labels, scores["a"], timed)


def weight_types_section(args, culturespa, tokenizer, chat_format, conversations, labels, reference, timed):
    """(e): option scoring per weight type, culturespa and llama.cpp on the same GGUF file."""
    import json
    import subprocess
    import numpy as np
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from llama_peer import llama_python_default, smollm2_gguf
    if args.model != "smollm2":
        print("(e) skipped: --weight-types needs --model smollm2 (GGUF files of the same weights)")
        return
    llama_python = args.llama_python or llama_python_default()
    llama_python = llama_python if Path(llama_python).exists() else None
    if not llama_python:
        print("(e) llama.cpp: skipped (no llama-cpp-python: bash benchmarks/setup-bench-env.sh)")
    n = len(conversations)

    def normalised(logprobs):
        rows = []
        for row in logprobs:
            row = np.asarray(row, dtype=np.float64)
            p = np.exp(row - row.max())
            rows.append(p / p.sum())
        width = max(len(r) for r in rows)
        return np.array([np.pad(r, (0, width - len(r)), constant_values=np.nan) for r in rows])

    for t in args.weight_types.split(","):
        path = smollm2_gguf(t, llama_python, threads=args.threads)
        if path is None:
            from culturespa import models
            path, weights = models.model_gguf(), t
        else:
            weights = "file"
        model = culturespa.Model(path, weights=weights, threads=args.threads)
        generator = culturespa.Generator(model, tokenizer, chat_format=chat_format, batch_size=args.batch_size)
        got = {}
        ours = timed(f"(e) culturespa {t} ({model.weight_type}), option scoring, prefix reuse",
                     lambda: got.__setitem__("s", generator.score_options(conversations, labels)), n)
        print(f"    max |p({t}) - p(float32 folder)| = {np.nanmax(np.abs(got['s'].probs - reference.probs)):.2e}")
        if not llama_python:
            continue
        work = Path(tempfile.mkdtemp(prefix="culturespa-llama-"))
        request = {"prompts": [{"ids": list(generator.encode(c)), "labels": [list(l) for l in tokens]}
                               for c, tokens in zip(conversations, got["s"].label_tokens)]}
        (work / "input.json").write_text(json.dumps(request))
        run = subprocess.run([llama_python, str(Path(__file__).with_name("llama_peer.py")), "score", str(path),
                              str(work / "input.json"), "--threads", str(args.threads)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"(e) llama.cpp {t}: failed\n{run.stderr[-2000:]}")
            continue
        result = json.loads(run.stdout.strip().splitlines()[-1])
        rate = n / result["seconds"]
        probs = normalised(result["logprobs"])
        print(f"{'(e) llama.cpp ' + t + ', prompt cache reused per culture':<58} {n:5d} prompts "
              f"{result['seconds']:8.1f} s {rate:8.2f} prompts/s  (reused {result['reused_tokens']} tokens)  "
              f"load {os.getloadavg()[0]:.1f}")
        print(f"    culturespa / llama.cpp ({t}) = {ours / rate:.2f}x; max |p(culturespa) - p(llama.cpp)| = "
              f"{np.nanmax(np.abs(got['s'].probs - probs)):.2e}")


if __name__ == "__main__":
    main()
