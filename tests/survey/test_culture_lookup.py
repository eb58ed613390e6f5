"""Culture lookup and the default survey, from Python (C++'s, culturespa/survey/culture_lookup.h)."""
import pytest

import culturespa
from culturespa import chat, data


def test_culture_resolve_by_code_adjective_or_country():
    survey = chat.cultures_survey()
    assert culturespa._core.culture_resolve(survey, "kenya").code == "KEN"
    assert chat.culture_resolve(survey, "Netherlands").code == "NLD"
    assert chat.COUNTRY_NAMES["JPN"] == "Japan" == culturespa._core.culture_country("JPN")
    with pytest.raises(ValueError, match=r"unknown culture 'Atlantis' \(known: USA \(United States\)"):
        chat.culture_resolve(survey, "Atlantis")


def test_survey_default_reads_the_path_then_the_environment(tmp_path, monkeypatch):
    survey = culturespa._core.Survey(name="mine")
    survey.save(str(tmp_path / "mine.json"))
    assert data.survey_default(tmp_path / "mine.json").name == "mine"
    monkeypatch.setenv("CULTURESPA_SURVEY", str(tmp_path / "mine.json"))
    assert data.survey_default().name == "mine"
    monkeypatch.delenv("CULTURESPA_SURVEY")
    monkeypatch.setenv("CULTURESPA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="culturespa data fetch wvs7"):
        data.survey_default()
