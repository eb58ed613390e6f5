"""Python training stacks calling culturespa's core (docs/tuning.md).

- ``CultureAlignmentCallback``: a transformers ``TrainerCallback``. At each
  evaluation it saves the adapter that PEFT is training, loads it into
  culturespa's C++ model (one base model in memory) and logs the WVS
  alignment per culture. It scores with Generator option scoring over the
  culture-aware prompts and SurveyScorer.
- ``messages_dataset``: the pairs ``culturespa export`` wrote, as a
  ``datasets.Dataset`` in TRL's messages format (``{"messages": [...]}``).

transformers and datasets are imported only when these are used.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from . import _core

PathLike = Union[str, "os.PathLike[str]"]
log = logging.getLogger("culturespa.integrations")


def messages_dataset(path: PathLike):
    """A ``datasets.Dataset`` with one ``messages`` column (lists of {"role",
    "content"}) from an exported Alpaca JSON list or messages JSONL file."""
    import datasets

    conversations = _core.tune_data_read(os.fspath(path))
    return datasets.Dataset.from_list([{"messages": [dict(role=m["role"], content=m["content"]) for m in c]}
                                       for c in conversations])


def alignment_by_culture(generator, survey, scorer, cultures: Sequence[str], adapter: str = "",
                         questions: Optional[int] = None) -> Dict[str, float]:
    """The alignment (x100) per culture of the model behind ``generator`` (with
    loaded ``adapter``, "" = none): culture-aware prompts, option-scoring
    distributions, SurveyScorer. All cultures are scored in one call."""
    prompts = []
    for culture in cultures:
        built = _core.prompt_build_all(survey, method="culture_aware", culture=culture)
        prompts.extend(built[:questions] if questions else built)
    scores = generator.score_options([p.messages for p in prompts], [list(p.labels) for p in prompts],
                                     adapters=[adapter] * len(prompts) if adapter else [])
    runs: Dict[str, List[dict]] = {}
    for prompt, probs, best in zip(prompts, scores.probs, scores.argmax):
        runs.setdefault(prompt.culture, []).append(
            {"question_id": prompt.question_id, "reply": prompt.labels[int(best)],
             "distribution": [float(p) for p in probs[:len(prompt.labels)]]})
    return {culture: scorer.score(runs[culture], culture).alignment for culture in cultures}


def _trainer_callback_base():
    from transformers import TrainerCallback
    return TrainerCallback


def _make_callback_class():
    TrainerCallback = _trainer_callback_base()

    class CultureAlignmentCallback(TrainerCallback):
        """Logs WVS alignment per culture at each evaluation of a transformers Trainer.

        ``base_model``: the checkpoint folder the PEFT model was made from
        (loaded once into culturespa). ``survey``: a Survey or survey path with
        human answers (e.g. ../shared/wvs). ``cultures``: codes to score.
        ``questions``: score only the first N questions (None: all).
        Scores go to the Trainer's log as ``wvs_alignment/<culture>`` and the
        mean as ``wvs_alignment/mean``, and into ``history`` ({step: {...}}).
        """

        def __init__(self, base_model: PathLike, survey, cultures: Sequence[str], *,
                     tokenizer: Optional[PathLike] = None, chat_format: Optional[str] = None,
                     questions: Optional[int] = None, batch_size: int = 16, keep_adapters: bool = False):
            self.model = _core.Model(os.fspath(base_model))
            self.tokenizer = _core.Tokenizer.from_folder(os.fspath(tokenizer or base_model))
            self.generator = _core.Generator(self.model, self.tokenizer, chat_format=chat_format,
                                             batch_size=batch_size)
            self.survey = _core.Survey.load(os.fspath(survey)) if isinstance(survey, (str, os.PathLike)) else survey
            self.scorer = _core.SurveyScorer(self.survey)
            self.cultures = list(cultures)
            self.questions = questions
            self.keep_adapters = keep_adapters
            self.history: Dict[int, Dict[str, float]] = {}

        def score(self, peft_model, step: int) -> Dict[str, float]:
            """Saves ``peft_model``'s adapter, loads it in culturespa and scores it."""
            folder = Path(tempfile.mkdtemp(prefix=f"culturespa-adapter-{step}-"))
            try:
                peft_model.save_pretrained(folder)
                name = f"step-{step}"
                self.model.adapter_load(name, str(folder))
                try:
                    scores = alignment_by_culture(self.generator, self.survey, self.scorer, self.cultures,
                                                  adapter=name, questions=self.questions)
                finally:
                    self.model.adapter_unload(name)
            finally:
                if not self.keep_adapters:
                    shutil.rmtree(folder, ignore_errors=True)
            self.history[step] = scores
            return scores

        def on_evaluate(self, args, state, control, model=None, **kwargs):
            if model is None:
                return control
            scores = self.score(model, state.global_step)
            entry = {f"wvs_alignment/{c}": v for c, v in scores.items()}
            entry["wvs_alignment/mean"] = sum(scores.values()) / max(1, len(scores))
            entry["step"] = state.global_step
            state.log_history.append(entry)
            log.info("step %d: WVS alignment %s", state.global_step,
                     ", ".join(f"{c} {v:.1f}" for c, v in scores.items()))
            return control

    return CultureAlignmentCallback


def __getattr__(name: str):
    # transformers is imported only when the callback is asked for.
    if name == "CultureAlignmentCallback":
        cls = _make_callback_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)

__all__ = ["CultureAlignmentCallback", "alignment_by_culture", "messages_dataset"]
