"""The Inglehart-Welzel map approximation (culturespa.cultural_map) on the
WVS-7 shares: directions that agree with the published map, model points that
coincide with the human ones when the model answers with the human shares, and
a drawn PNG."""
import json
import math

import pytest

import culturespa
from culturespa import cultural_map, evaluation  # noqa: F401


@pytest.fixture(scope="module")
def survey(shared_dir):
    return culturespa.Survey.wvs7(str(shared_dir / "wvs"))


def _mean(points, cultures, axis):
    return sum(points[c][axis] for c in cultures) / len(cultures)


def test_human_positions_follow_the_published_map(survey):
    cultures = [c.code for c in survey.cultures]
    human, _ = cultural_map.positions({c: cultural_map.human_shares(survey, c) for c in cultures})
    assert set(human) == set(cultures)
    assert all(not math.isnan(v) for point in human.values() for v in point)
    # Germany and the Netherlands are secular-rational, Nigeria, Ethiopia and Zimbabwe traditional.
    assert _mean(human, ["DEU", "NLD"], 0) > 0 > _mean(human, ["NGA", "ETH", "ZWE"], 0)
    # The English-speaking and Protestant Europe cultures lean to self-expression, Russia and Ukraine to survival.
    assert _mean(human, ["NLD", "NZL", "AUS", "GBR"], 1) > 0 > _mean(human, ["RUS", "UKR"], 1)
    # Standardised over the cultures: each axis averages about 0.
    assert abs(_mean(human, cultures, 0)) < 1e-9 and abs(_mean(human, cultures, 1)) < 1e-9


def test_model_points_from_result_files_and_the_plot(survey, tmp_path):
    cultures = ["DEU", "NGA", "USA"]
    # A "model" whose scored distributions are the human shares: it lands on the human points.
    questions = {q.id: q for q in survey.questions}
    for culture in cultures:
        items = []
        for qid in cultural_map.QUESTION_IDS:
            q = questions[qid]
            shares = survey.human_answers(culture, qid)
            distribution = [shares.get(q.first_option_id + k, 0.0) for k in range(len(q.options))]
            items.append({"Q_id": qid, "question": q.text, "option_lst": list(q.options), "answer": "1",
                          "distribution": distribution})
        path = culturespa.evaluation.evaluation_result_path(str(tmp_path), "culture_aware", culture, 0)
        with open(path, "w") as out:
            json.dump(items, out)
    human, model = cultural_map.from_folder(survey, tmp_path, cultures)
    for c in cultures:
        assert model[c] == pytest.approx(human[c], abs=1e-9)
    # One-hot answers of option 1 move every culture to the same point.
    one_hot = {c: {qid: {1: 1.0} for qid in cultural_map.QUESTION_IDS} for c in cultures}
    _, moved = cultural_map.positions({c: cultural_map.human_shares(survey, c) for c in cultures}, one_hot)
    assert moved["DEU"] == pytest.approx(moved["NGA"])
    pytest.importorskip("matplotlib")
    png = tmp_path / "map.png"
    cultural_map.plot(human, moved, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
