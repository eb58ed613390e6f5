"""``culturespa tune``: LoRA fine-tuning on what ``culturespa export`` wrote.

Culture-joint trains one adapter on ``<name>_train.json`` (Alpaca) or
``<name>_train.jsonl`` (messages); culture-specific trains one adapter per
``<name>_<CULTURE>_train.*`` file, into ``OUTPUT/<CULTURE>/``. Each output is
a PEFT folder (adapter_config.json, adapter_model.safetensors) with its
training_log.json. The training itself is the C++ ``LoraTrainer``
(docs/tuning.md).
"""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Dict, List

from . import _core


def training_files(data: str, mode: str, name: str = "culturespa") -> Dict[str, Path]:
    """The training files of an export folder: {"": file} (joint) or {culture: file} (specific)."""
    folder = Path(data)
    if not folder.is_dir():
        raise FileNotFoundError(f"tune: --data {data} is not a folder (the output of `culturespa export`)")
    pattern = re.compile(re.escape(name) + (r"_train\.jsonl?$" if mode == "joint" else r"_([A-Za-z]+)_train\.jsonl?$"))
    found: Dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        match = pattern.fullmatch(path.name)
        if match:
            key = "" if mode == "joint" else match.group(1)
            if key in found:
                raise ValueError(f"tune: {data} holds both {found[key].name} and {path.name}; keep one format")
            found[key] = path
    if not found:
        expected = f"{name}_train.json(l)" if mode == "joint" else f"{name}_<CULTURE>_train.json(l)"
        raise FileNotFoundError(f"tune: no {expected} in {data} (export with --mode {mode}, "
                                "--format alpaca or sharegpt)")
    return found


def run(args: argparse.Namespace) -> int:
    preset = _core.lora_trainer_preset(args.preset or f"culturespa-{args.mode}")
    overrides = dict(learning_rate=args.lr, epochs=args.epochs, effective_batch=args.effective_batch,
                     cutoff=args.cutoff, r=args.rank, lora_alpha=args.alpha)
    preset.update({k: v for k, v in overrides.items() if v is not None})
    if args.threads:
        _core.runtime_set_num_threads(args.threads)
    model = _core.Model(args.model)
    tokenizer = _core.Tokenizer.from_folder(args.tokenizer or args.model)
    results: List[str] = []
    for culture, path in training_files(args.data, args.mode, args.name).items():
        output = os.path.join(args.output, culture) if culture else args.output
        trainer = _core.LoraTrainer(model, tokenizer, batch_size=args.batch_size, max_steps=args.max_steps,
                                    save_steps=args.save_steps, seed=args.seed, output_dir=output,
                                    chat_format=args.chat_format or "",
                                    gradient_checkpointing=args.gradient_checkpointing, **preset)
        conversations = _core.tune_data_read(str(path))

        def report(p, culture=culture):
            print(f"\r{culture or 'joint'} step {p.step}/{p.total_steps} loss {p.loss:.4f} "
                  f"{p.tokens_per_second:.0f} tok/s ETA {p.eta_seconds:.0f}s", end="", flush=True)

        result = trainer.train(conversations, callback=None if args.quiet else report)
        if not args.quiet:
            print()
        results.append(output)
        print(f"{output}: {result.used} of {result.examples} examples, {len(result.steps)} steps, "
              f"final loss {result.steps[-1].loss:.4f}, {result.tokens_per_second:.0f} tokens/s"
              + (f", {result.skipped_empty} skipped (empty response)" if result.skipped_empty else "")
              + (f", {result.truncated} truncated" if result.truncated else "")
              + (f", resumed from step {result.resumed_from}" if result.resumed_from else ""))
    return 0


def add_parser(sub) -> None:
    from .cli import _count, _positive, _ranged, _seed

    _rate = _ranged(float, 0.0, low_open=True, what="a finite number > 0")
    tune = sub.add_parser("tune", help="LoRA fine-tuning on exported pairs (one adapter, or one per culture)",
                          description=__doc__.split("\n\n")[0])
    tune.add_argument("--data", required=True, help="folder written by `culturespa export`")
    tune.add_argument("--mode", default="joint", choices=["joint", "specific"])
    tune.add_argument("--model", required=True, help="checkpoint folder (tokenizer files in it unless --tokenizer)")
    tune.add_argument("--output", required=True, help="adapter folder (joint) or folder of per-culture adapters")
    tune.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the model folder)")
    tune.add_argument("--name", default="culturespa", help="the export's file-name stem (export --name)")
    tune.add_argument("--preset", default=None,
                      help="culturespa-joint or culturespa-specific (default: culturespa-<mode>)")
    tune.add_argument("--lr", type=_rate, default=None, help="learning rate (preset: 1e-4)")
    tune.add_argument("--epochs", type=_rate, default=None, help="epochs (preset: 1)")
    tune.add_argument("--max-steps", type=_count, default=0, help="stop after this many steps (0: epochs decide)")
    tune.add_argument("--rank", type=_positive, default=None, help="LoRA rank (preset: 8)")
    tune.add_argument("--alpha", type=_ranged(float, what="a finite number"), default=None, help="LoRA alpha (preset: 16)")
    tune.add_argument("--batch-size", type=_positive, default=8, help="sequences per forward pass")
    tune.add_argument("--effective-batch", type=_positive, default=None,
                      help="sequences per optimiser step (preset: 128 joint, 8 specific)")
    tune.add_argument("--cutoff", type=_ranged(int, 2, 2**31 - 1, what="an integer >= 2"), default=None, help="longest sequence in tokens (preset: 4096)")
    tune.add_argument("--save-steps", type=_count, default=50, help="checkpoint every N steps (resumable)")
    tune.add_argument("--seed", type=_seed, default=42)
    tune.add_argument("--chat-format", default=None, help="chat format (default: the tokenizer's)")
    tune.add_argument("--gradient-checkpointing", action="store_true", help="recompute layers in backward")
    tune.add_argument("--threads", type=_count, default=0, help="LibTorch threads (0: default)")
    tune.add_argument("--quiet", action="store_true", help="no per-step progress line")
    tune.set_defaults(run=run)
