"""Answering on several processes: each rank answers its share of the runs
(the culture-unaware run, then one per culture) and every rank gets the whole
result; the files equal one process's (docs/distributed.md).

    .venv/bin/python -m torch.distributed.run --redirects 1 --tee 1 --nproc_per_node 2 examples/python/distributed_answer.py --output /tmp/answers
    .venv/bin/python -m torch.distributed.run --redirects 1 --tee 1 --nproc_per_node 2 examples/python/distributed_answer.py \
        --model "$(culturespa model path smollm2-135m-instruct)" --output /tmp/answers

Without torchrun it runs as one process. By default the model is a small
RANDOM checkpoint (its answers are noise); run it again to see every run kept.
"""
from __future__ import annotations

import argparse
import os
import tempfile

import culturespa

QUESTIONS = [
    culturespa.Question(id=f"Q{i}", text=text, options=["Very important", "Rather important", "Not very important",
                                                         "Not at all important"], topic="Social Values")
    for i, text in enumerate(["How important is family in your life?", "How important is work in your life?",
                              "How important is religion in your life?", "How important are friends in your life?"])
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint folder with its tokenizer (default: a random one)")
    parser.add_argument("--output", required=True, help="answer folder, shared by every rank")
    parser.add_argument("--cultures", nargs="+", default=["KEN", "THA", "DEU", "USA", "CHN"])
    args = parser.parse_args()

    # One process: None, and everything below runs as usual.
    group = culturespa.distributed_init(config=repr(vars(args)))
    rank = group.rank if group else 0
    model_dir = args.model
    if model_dir is None:  # the same random checkpoint on every rank (fixed seed), written by each into its own folder
        import culturespa.generator
        import culturespa.testing

        model_dir = tempfile.mkdtemp(prefix=f"culturespa-example-{rank}-")
        culturespa.testing.write_checkpoint(model_dir, vocab_size=272, hidden_size=64, intermediate_size=128,
                                            num_hidden_layers=2, seed=3)
        culturespa.generator.write_test_tokenizer(model_dir)
    generator = culturespa.Generator(culturespa.Model(model_dir), culturespa.Tokenizer.from_folder(model_dir),
                                     chat_format="chatml" if args.model is None else None)
    answerer = culturespa.QuestionAnswerer(generator, cultures=args.cultures)
    result = answerer.answer(QUESTIONS, args.output)
    for run in result.runs:
        print(f"rank {rank}: {run.culture or 'unaware':8s} answered by rank {run.rank}"
              + (" (kept)" if run.resumed else "") + f"  {os.path.basename(run.path)}")
    culturespa.distributed_shutdown()


if __name__ == "__main__":
    main()
