"""Answering on 2 ranks x 1 thread against 1 rank x 2 threads, side by side
in one run on the same questions, cultures and model (docs/distributed.md,
"Scaling model"): `culturespa answer` as one process with 2 LibTorch threads,
then under `torchrun --nproc_per_node 2` with 1 thread per rank. Prints each
layout's wall time (model loading included, as a user sees it), answers per
second and the ratio, and checks that both wrote the same files. The
machine's load is printed beside the figures: compare on an idle machine.

    python benchmarks/distributed_bench.py [--model DIR] [--questions 120] [--cultures KEN THA DEU USA JPN]
    python benchmarks/distributed_bench.py --tiny   # a random checkpoint: checks that the script runs
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(command, threads: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), OMP_NUM_THREADS=str(threads),
               CULTURESPA_NUM_THREADS=str(threads))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    started = time.perf_counter()
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"failed ({run.returncode}): {' '.join(command)}\n{run.stdout}\n{run.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint folder (default: SmolLM2-135M-Instruct, fetched)")
    parser.add_argument("--tiny", action="store_true", help="a small random checkpoint instead (a smoke run)")
    parser.add_argument("--questions", type=int, default=120)
    parser.add_argument("--cultures", nargs="+", default=["KEN", "THA", "DEU", "USA", "CHN"])
    parser.add_argument("--mode", default="scored", choices=["scored", "sampled"])
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "python"))
    work = Path(tempfile.mkdtemp(prefix="culturespa-distributed-bench-"))
    chat_format = []
    if args.tiny:
        import culturespa.generator
        import culturespa.testing

        model = work / "tiny"
        culturespa.testing.write_checkpoint(model, vocab_size=272, hidden_size=64, intermediate_size=128,
                                            num_hidden_layers=2, max_position_embeddings=4096, seed=3)
        culturespa.generator.write_test_tokenizer(model)
        chat_format = ["--chat-format", "chatml"]
    else:
        from culturespa import models

        model = Path(args.model or models.smollm2_135m_instruct())
    bank = work / "bank.json"
    bank.write_text(json.dumps([{"Q_id": f"Q{i}", "question": f"How important is thing {i} in your life?",
                                 "option_lst": ["Very important", "Rather important", "Not very important",
                                                "Not at all important"], "class": "Social Values"}
                                for i in range(args.questions)]))

    def answer(output: Path, threads: int):
        return ["-m", "culturespa", "answer", "--model", str(model), *chat_format, "--questions", str(bank),
                "--output", str(output), "--cultures", *args.cultures, "--mode", args.mode,
                "--batch-size", str(args.batch_size), "--threads", str(threads)]

    answers = args.questions * (1 + len(args.cultures))
    print(f"answering {args.questions} questions x {1 + len(args.cultures)} runs = {answers} answers "
          f"({args.mode}) with {model}; {_load()}")
    one = _timed([sys.executable, *answer(work / "one", 2)], threads=2)
    print(f"  1 rank  x 2 threads: {one:7.2f} s  {answers / one:8.1f} answers/s")
    two = _timed([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--redirects", "1", "--tee", "1", "--master_addr",
                  "127.0.0.1", "--master_port", str(_free_port()), *answer(work / "two", 1)], threads=1)
    print(f"  2 ranks x 1 thread : {two:7.2f} s  {answers / two:8.1f} answers/s")
    print(f"  ratio (2 ranks x 1 thread over 1 rank x 2 threads): {one / two:.2f}x; {_load()}")
    same = all((work / "one" / p.name).read_bytes() == p.read_bytes() for p in (work / "two").iterdir())
    # Byte-equality needs the same thread count per process (floating-point
    # sums); the layouts differ in it, so this only reports.
    print(f"  files identical: {same} (expected only with equal threads per process)")


if __name__ == "__main__":
    main()
