"""One-shot survey answers from a model (``culturespa chat``).

``ask()`` puts one survey question to a model as a respondent of a chosen
culture (the reference's culture-aware prompt, or culture-unaware), and
returns the model's greedy reply and its option distribution (the
Generator's option scoring, docs/generator.md). The model defaults to
SmolLM2-135M-Instruct from the culturespa cache (docs/checkpoints.md).

Questions come from a survey: ``--survey``/``$CULTURESPA_SURVEY``, else the
WVS-7 data fetched once with ``culturespa data fetch wvs7`` (culturespa keeps
no survey text of its own). A free-text question (``--text``) needs no survey.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union

# culture_resolve: a culture of a survey by code (KEN), adjective (Kenyan) or country (Kenya).
from ._core import Culture, Question, Survey, culture_country, culture_resolve, cultures_builtin, prompt_build

PathLike = Union[str, os.PathLike]

# Cultures asked for beyond the paper's 18 (which are built in).
EXTRA_CULTURES = [Culture(code="JPN", adjective="Japanese", article="a")]

# Country names, so that `--culture Kenya` works as well as KEN and Kenyan
# (the table is C++'s: culture_country in culturespa/survey/culture_lookup.h).
COUNTRY_NAMES = {c.code: culture_country(c.code) for c in [*cultures_builtin(), *EXTRA_CULTURES]}


def _with_extra_cultures(survey: Survey) -> Survey:
    for culture in EXTRA_CULTURES:
        if not any(c.code == culture.code for c in survey.cultures):
            survey.add_culture(culture)
    return survey


def cultures_survey() -> Survey:
    """A survey without questions holding the paper's 18 cultures and Japan:
    enough to ask a free-text question (``--text``) with no survey data."""
    return _with_extra_cultures(Survey(name="cultures"))


def shared_wvs_dir() -> Optional[Path]:
    """../shared/wvs beside a source checkout (or $CULTURESPA_SHARED_DIR/wvs), if
    present: the tests' data, never a default of the commands."""
    env = os.environ.get("CULTURESPA_SHARED_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    folder = root / "wvs"
    return folder if (folder / "wvs_questions.json").is_file() else None


def survey_for_chat(path: Optional[PathLike] = None) -> Survey:
    """The survey `culturespa chat` asks from: ``path``, else
    ``$CULTURESPA_SURVEY``, else the fetched WVS-7 data (``culturespa data
    fetch wvs7``; FileNotFoundError saying so when it is missing)."""
    from .data import survey_default

    return _with_extra_cultures(survey_default(path))


@dataclass
class ChatAnswer:
    """A model's answer to one question: its reply and option distribution."""

    question: Question
    culture: Optional[Culture]
    messages: List[Dict[str, str]]
    reply: str
    labels: List[str]
    probs: List[float]
    allowed_mass: float
    extra: Dict[str, object] = field(default_factory=dict)

    def distribution(self) -> Dict[str, float]:
        return dict(zip(self.labels, self.probs))

    def to_dict(self) -> Dict[str, object]:
        return {
            "question_id": self.question.id,
            "question": self.question.text,
            "options": list(self.question.options),
            "culture": self.culture.code if self.culture else None,
            "messages": self.messages,
            "reply": self.reply,
            "distribution": self.distribution(),
            "allowed_mass": self.allowed_mass,
        }


def ask(generator, survey: Survey, question: Union[str, Question], culture: Optional[str], *,
        max_new_tokens: int = 16) -> ChatAnswer:
    """Asks ``question`` (a survey id or a Question) as a respondent of
    ``culture`` (None: culture-unaware) with ``generator`` (a culturespa.Generator)."""
    q = question if isinstance(question, Question) else survey.question(question)
    resolved = culture_resolve(survey, culture) if culture else None
    prompt = prompt_build(survey, q, method="culture_aware" if resolved else "culture_unaware",
                          culture=resolved.code if resolved else "")
    messages = [dict(m) for m in prompt.messages]
    reply = generator.generate([messages], max_new_tokens=max_new_tokens)[0].text
    scores = generator.score_options([messages], [list(prompt.labels)])
    probs = [float(p) for p in scores.probs[0][: len(prompt.labels)]]
    return ChatAnswer(question=q, culture=resolved, messages=messages, reply=reply,
                      labels=list(prompt.labels), probs=probs,
                      allowed_mass=float(scores.allowed_mass[0]))


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct folder, fetched into the cache on first use."""
    from . import models

    return models.smollm2_135m_instruct()


def generator_open(model: Optional[PathLike] = None, tokenizer: Optional[PathLike] = None, *,
                   chat_format: Optional[str] = None, **model_options):
    """A Generator over ``model`` (a checkpoint folder or .gguf file; default
    SmolLM2-135M-Instruct) with the tokenizer of ``tokenizer`` (default: the
    model's own, from its folder or from the .gguf file). ``chat_format``: None = the
    tokenizer's own template (docs/text.md lists the formats)."""
    from .generator import Generator
    from .model import Model
    from .text import Tokenizer

    model_path = Path(model) if model is not None else default_model_path()
    tokenizer_path = Path(tokenizer) if tokenizer is not None else model_path
    return Generator(Model(model_path, **model_options), Tokenizer.from_folder(os.fspath(tokenizer_path)),
                     chat_format=chat_format)


def format_answer(answer: ChatAnswer) -> str:
    """The answer as `culturespa chat` prints it."""
    who = (f"a {answer.culture.adjective} respondent ({answer.culture.code})"
           if answer.culture else "a respondent (culture-unaware)")
    lines = [f"{answer.question.id}: {answer.question.text}", f"asked as {who}",
             f"reply: {answer.reply.strip()!r}", "option distribution:"]
    for offset, (label, prob) in enumerate(zip(answer.labels, answer.probs)):
        text = answer.question.options[offset] if offset < len(answer.question.options) else ""
        lines.append(f"  {label:>3}. {text[:48]:<48} {prob:7.4f}  {'#' * round(prob * 40)}")
    lines.append(f"probability on the option labels: {answer.allowed_mass:.4f}")
    return "\n".join(lines)


__all__ = [
    "COUNTRY_NAMES",
    "ChatAnswer",
    "EXTRA_CULTURES",
    "ask",
    "cultures_survey",
    "culture_resolve",
    "default_model_path",
    "format_answer",
    "generator_open",
    "shared_wvs_dir",
    "survey_for_chat",
]
