"""Trains two small LoRA adapters (one per "culture") on a random checkpoint
with the C++ LoraTrainer, saves them as PEFT folders, then scores one mixed
batch in which each row uses its own adapter.

    python examples/python/lora_tune.py [work-dir]
"""
import sys
import tempfile
from pathlib import Path

from culturespa import _core, testing

work = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="culturespa-lora-"))
testing.write_checkpoint(work / "model", vocab_size=272, seed=1)
_core.testing_tokenizer_write(str(work / "model"))
model = _core.Model(str(work / "model"))
tokenizer = _core.Tokenizer.from_folder(str(work / "model"))

questions = ["How important is family?", "How important is work?", "How important is religion?"]
for culture, answer in [("KEN", "1"), ("JPN", "4")]:
    data = [[{"role": "system", "content": "Answer with one number."}, {"role": "user", "content": q},
             {"role": "assistant", "content": answer}] for q in questions]
    settings = _core.lora_trainer_preset("culturespa-specific")
    settings.update(learning_rate=1e-2, epochs=20)  # a toy run: few steps, large rate
    trainer = _core.LoraTrainer(model, tokenizer, output_dir=str(work / "adapters" / culture), logging_steps=0, chat_format="chatml",
                                **settings)
    result = trainer.train(data)
    print(f"{culture}: {len(result.steps)} steps, loss {result.steps[0].loss:.3f} -> {result.steps[-1].loss:.3f}, "
          f"{result.tokens_per_second:.0f} tokens/s, adapter in {result.adapter_path}")
    model.adapter_load(culture, result.adapter_path)

generator = _core.Generator(model, tokenizer, chat_format="chatml")
prompt = [{"role": "system", "content": "Answer with one number."}, {"role": "user", "content": questions[0]}]
scores = generator.score_options([prompt] * 3, [["1", "2", "3", "4"]], adapters=["KEN", "JPN", ""])
for name, probs in zip(["KEN", "JPN", "base"], scores.probs):
    print(name, " ".join(f"{p:.3f}" for p in probs))
