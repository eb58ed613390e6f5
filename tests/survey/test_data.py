"""`culturespa data fetch wvs7`: the pinned WVS-7 files, imported (--from) or
downloaded (a local HTTP server on 127.0.0.1 plays GitHub), checked by SHA-256
and cached; commands default to the cached copy."""
import functools
import hashlib
import http.server
import shutil
import threading

import pytest

import culturespa
from culturespa import data
from culturespa.cli import main

FILES = ["wvs_questions.json", "proportions_group_by_country.json", "country_similarity.json",
         "self_alignment_examples.json"]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CULTURESPA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CULTURESPA_SURVEY", raising=False)
    monkeypatch.delenv(data.URL_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture()
def server(shared_dir, tmp_path):
    """Serves a copy of ../shared/wvs on 127.0.0.1; yields (base URL, served folder, request log)."""
    served = tmp_path / "served"
    served.mkdir()
    for name in FILES:
        shutil.copyfile(shared_dir / "wvs" / name, served / name)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, requests
    httpd.shutdown()
    httpd.server_close()


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_pins_are_the_shared_files(shared_dir):
    release = data.data_release("wvs7")
    assert release.commit == "4e128c910953a4cc59cde2550d711f832a82b992"
    assert [f.name for f in release.files] == FILES
    for f in release.files:  # the README's table, recomputed here
        assert _sha256(shared_dir / "wvs" / f.name) == f.sha256
    assert release.url(release.files[0]).startswith(
        "https://raw.githubusercontent.com/shaoyangxu/CultureSPA/4e128c9")
    assert release.to_dict()["files"][1]["name"] == FILES[1]


def test_fetch_from_a_local_copy_then_commands_default_to_it(shared_dir, cache, capsys):
    assert data.data_verify() is not None  # nothing cached yet
    with pytest.raises(FileNotFoundError, match="culturespa data fetch wvs7"):
        data.survey_default()
    assert main(["data", "fetch", "wvs7", "--from", str(shared_dir / "wvs")]) == 0
    folder = capsys.readouterr().out.strip()
    assert folder == str(cache / "data" / "wvs7") == str(data.data_path())
    assert data.data_verify() is None
    assert sorted(p.name for p in (cache / "data" / "wvs7").iterdir()) == sorted(FILES)
    survey = data.survey_default()
    assert len(survey.evaluated_ids) == 259
    # The C++ side reads the same cache.
    assert len(culturespa._core.survey_load_cached("wvs7").evaluated_ids) == 259
    assert main(["data", "path"]) == 0 and capsys.readouterr().out.strip() == folder


def test_download_from_a_local_http_server(cache, server):
    url, _, requests = server
    path = data.data_fetch("wvs7", url=url)
    assert data.data_verify() is None and path == data.data_path()
    assert sorted(requests) == sorted(f"/{name}" for name in FILES)
    # A second fetch finds the good cached copy and downloads nothing.
    data.data_fetch("wvs7", url=url)
    assert len(requests) == len(FILES)


def test_corrupt_cached_file_is_refetched_or_named(cache, server, capsys, monkeypatch):
    url, served, requests = server
    data.data_fetch("wvs7", url=url)
    damaged = cache / "data" / "wvs7" / "country_similarity.json"
    damaged.write_text("{}")
    # Reading it: a clear error naming the file and how to fetch again.
    with pytest.raises(ValueError, match="country_similarity.json.*culturespa data fetch wvs7"):
        culturespa._core.survey_load_cached("wvs7")
    code = main(["score", "--answers", str(cache / "none.json")])
    assert code == 2 and "country_similarity.json" in capsys.readouterr().err
    # Fetching again repairs it.
    data.data_fetch("wvs7", url=url)
    assert data.data_verify() is None and len(requests) == 2 * len(FILES)


def test_a_served_file_that_is_not_the_pinned_one_is_refused(cache, server):
    url, served, _ = server
    (served / "wvs_questions.json").write_text("[]")
    with pytest.raises(ValueError, match="wvs_questions.json.*6961729b"):
        data.data_fetch("wvs7", url=url)
    assert not data.data_path().exists()  # nothing half-imported
    (served / "proportions_group_by_country.json").unlink()
    with pytest.raises(OSError, match="proportions_group_by_country.json"):
        data.data_fetch("wvs7", url=url)


def test_unreachable_server_and_bad_source(cache, tmp_path):
    with pytest.raises(OSError, match="could not download.*--from DIR"):
        data.data_fetch("wvs7", url="http://127.0.0.1:9", timeout=5)
    with pytest.raises(FileNotFoundError, match="wvs_questions.json"):
        data.data_fetch("wvs7", source=tmp_path)
    with pytest.raises(ValueError, match="wvs8.*wvs7"):
        data.data_release("wvs8")


def test_no_survey_text_is_kept_in_the_package():
    from culturespa import chat

    assert not hasattr(chat, "BUILTIN_QUESTIONS") and not hasattr(chat, "builtin_survey")
    assert len(chat.cultures_survey().questions) == 0
