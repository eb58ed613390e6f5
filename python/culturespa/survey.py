"""Survey data and prompt builders (the C++ survey layer) with pandas helpers.

``Survey`` holds questions, cultures, human answer distributions, the culture
similarity table and self-alignment example lists; ``Prompts`` builds the
reference prompts as lists of ``{"role", "content"}`` dicts. See docs/survey.md.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Union

from ._core import (
    Culture,
    PromptMethod,
    PromptTemplates,
    Question,
    Survey,
    SurveyConventions,
    SurveyPrompt,
    SurveyTopic,
    culture_contrast,
    culture_from_code,
    cultures_builtin,
    prompt_build,
    prompt_build_all,
    prompt_generate,
    prompt_options_text,
    prompt_system,
    python_repr_list,
    question_bank_from_json,
    question_bank_load,
    question_bank_save,
    question_bank_to_json,
    template_format,
    topics_wvs7,
)
from ._deprecated import module_getattr

__getattr__ = module_getattr(__name__, {
    "build_prompt": ("prompt_build", prompt_build),
    "build_prompts": ("prompt_build_all", prompt_build_all),
    "generation_prompt": ("prompt_generate", prompt_generate),
})

Messages = List[dict]


def questions_dataframe(questions: Iterable[Question], survey: Optional[Survey] = None):
    """One row per question: id, text, options, option count, topic, zero_based
    (and ``evaluated`` when the questions belong to ``survey``)."""
    import pandas as pd

    rows = []
    for q in questions:
        row = {
            "id": q.id,
            "text": q.text,
            "options": list(q.options),
            "n_options": len(q.options),
            "topic": q.topic,
            "zero_based": q.zero_based,
        }
        if survey is not None:
            row["evaluated"] = survey.is_evaluated(q.id)
        rows.append(row)
    columns = ["id", "text", "options", "n_options", "topic", "zero_based"]
    if survey is not None:
        columns.append("evaluated")
    return pd.DataFrame(rows, columns=columns)


def _survey_to_dataframe(self: Survey):
    """The survey's questions as a pandas DataFrame (see questions_dataframe)."""
    return questions_dataframe(self.questions, self)


def _survey_human_answers_dataframe(self: Survey, culture: Optional[str] = None):
    """Long table of human answers: culture, question_id, option, share, rank
    (0 = the gold answer). All cultures unless ``culture`` is given."""
    import pandas as pd

    codes = [culture] if culture is not None else [c.code for c in self.cultures]
    rows = []
    for code in codes:
        for qid in self.answered_ids(code):
            for rank, (option, share) in enumerate(self.human_answers(code, qid).items()):
                rows.append({"culture": code, "question_id": qid, "option": option,
                             "share": share, "rank": rank})
    return pd.DataFrame(rows, columns=["culture", "question_id", "option", "share", "rank"])


Survey.to_dataframe = _survey_to_dataframe
Survey.human_answers_dataframe = _survey_human_answers_dataframe


class Prompts:
    """The reference prompts of one survey, as chat message lists.

    >>> prompts = Prompts(survey)
    >>> prompts.culture_aware("Q1", "KEN")
    [{'role': 'system', 'content': 'You are a real person with a Kenyan ...'}, {'role': 'user', ...}]
    """

    def __init__(self, survey: Survey, *, templates: Optional[Union[PromptTemplates, str]] = None,
                 examples: int = 5):
        self.survey = survey
        self.templates = PromptTemplates.load(templates) if isinstance(templates, str) else templates
        self.examples = examples

    def build(self, question: Union[str, Question], *, method: Union[str, PromptMethod] = "culture_aware",
              culture: str = "") -> SurveyPrompt:
        """The SurveyPrompt (``.messages``, ``.labels``) of one question."""
        return prompt_build(self.survey, question, method=method, culture=culture,
                            templates=self.templates, examples=self.examples)

    def build_all(self, *, method: Union[str, PromptMethod] = "culture_aware",
                  culture: str = "") -> List[SurveyPrompt]:
        """One SurveyPrompt per evaluated question, in survey order."""
        return prompt_build_all(self.survey, method=method, culture=culture,
                             templates=self.templates, examples=self.examples)

    def labels(self, question: Union[str, Question]) -> List[str]:
        q = question if isinstance(question, Question) else self.survey.question(question)
        return q.labels

    def culture_unaware(self, question: Union[str, Question]) -> Messages:
        return self.build(question, method="culture_unaware").messages

    def culture_aware(self, question: Union[str, Question], culture: str) -> Messages:
        return self.build(question, method="culture_aware", culture=culture).messages

    def cross_culture_thinking(self, question: Union[str, Question], culture: str) -> Messages:
        return self.build(question, method="cross_culture_thinking", culture=culture).messages

    def self_alignment(self, question: Union[str, Question], culture: str) -> Messages:
        return self.build(question, method="self_alignment", culture=culture).messages

    def culture_aware_self_alignment(self, question: Union[str, Question], culture: str) -> Messages:
        return self.build(question, method="culture_aware_self_alignment", culture=culture).messages

    def cross_culture_thinking_self_alignment(self, question: Union[str, Question],
                                              culture: str) -> Messages:
        return self.build(question, method="cross_culture_thinking_self_alignment",
                          culture=culture).messages

    def generate(self, topic: str, examples: Iterable[Question]) -> Messages:
        """The question-generation conversation for ``topic`` with the given examples."""
        return prompt_generate(topic, list(examples), templates=self.templates)


__all__ = [
    "Culture",
    "PromptMethod",
    "PromptTemplates",
    "Prompts",
    "Question",
    "Survey",
    "SurveyConventions",
    "SurveyPrompt",
    "SurveyTopic",
    "culture_contrast",
    "culture_from_code",
    "cultures_builtin",
    "prompt_build",
    "prompt_build_all",
    "prompt_generate",
    "prompt_options_text",
    "prompt_system",
    "python_repr_list",
    "question_bank_from_json",
    "question_bank_load",
    "question_bank_save",
    "question_bank_to_json",
    "questions_dataframe",
    "template_format",
    "topics_wvs7",
]
