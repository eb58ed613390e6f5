"""Core layer from Python: error mapping, logging redirection, progress and
cancellation, version and build information."""
import _thread
import logging
import threading

import pytest

import culturespa
from culturespa import _core


@pytest.mark.parametrize("kind, python_type", [
    ("file_not_found", FileNotFoundError),
    ("file_io", OSError),
    ("format", ValueError),
    ("config", ValueError),
    ("value", ValueError),
    ("error", RuntimeError),
    ("cancelled", culturespa.Cancelled),
])
def test_each_error_type_maps_to_its_python_exception(kind, python_type):
    with pytest.raises(python_type, match=f"message for {kind}"):
        _core._raise_error(kind, f"message for {kind}")


def test_cancelled_is_a_runtime_error():
    assert issubclass(culturespa.Cancelled, RuntimeError)


def test_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "absent" / "tokenizer.model"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        culturespa.SentencePieceModel.load(str(missing))


def test_library_messages_reach_python_logging(caplog):
    culturespa.set_log_level("info")
    try:
        with caplog.at_level(logging.INFO, logger="culturespa"):
            _core.log_message(culturespa.LogLevel.info, "hello from C++")
            _core.log_message(culturespa.LogLevel.debug, "below the level")
        messages = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
        assert ("culturespa", logging.INFO, "hello from C++") in messages
        assert all(m != "below the level" for _, _, m in messages)
    finally:
        culturespa.set_log_level("warning")


def test_log_level_names_are_checked():
    with pytest.raises(ValueError, match="loud"):
        culturespa.set_log_level("loud")


def test_messages_from_other_threads_reach_logging(caplog):
    culturespa.set_log_level("warning")
    with caplog.at_level(logging.WARNING, logger="culturespa"):
        worker = threading.Thread(
            target=_core.log_message, args=(culturespa.LogLevel.warning, "from a thread"))
        worker.start()
        worker.join()
    assert "from a thread" in [r.getMessage() for r in caplog.records]


def test_progress_callback_sees_every_step():
    seen = []
    done = _core._count_with_progress(5, progress=lambda p: seen.append((p.stage, p.done, p.total)))
    assert done == 5
    assert seen == [("count", i, 5) for i in range(6)]


def test_progress_callback_can_cancel():
    with pytest.raises(culturespa.Cancelled, match="after 3 of 100"):
        _core._count_with_progress(100, progress=lambda p: p.done < 3)


def test_ctrl_c_stops_a_long_call_with_keyboard_interrupt():
    # interrupt_main() raises SIGINT's effect in the main thread, as Ctrl-C does.
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        _core._count_with_progress(1000, sleep_ms=10.0)
    timer.join()


def test_progress_bar_draws_with_tqdm(capsys):
    pytest.importorskip("tqdm")
    bar = culturespa.progress_bar(desc="counting", file=None)
    assert _core._count_with_progress(4, progress=bar) == 4


def test_version_and_build_info():
    assert culturespa.__version__ == culturespa.build_info()["version"]
    assert culturespa.__version__.count(".") == 2
    info = culturespa.build_info()
    assert info["sentencepiece"] in {"debian-source", "system", "off"}
    runtime = culturespa.runtime_info()
    assert runtime["devices"][0] == "cpu"
    assert runtime["num_threads"] >= 1


def test_thread_count_is_settable():
    before = culturespa.runtime_num_threads()
    culturespa.runtime_set_num_threads(1)
    assert culturespa.runtime_num_threads() == 1
    culturespa.runtime_set_num_threads(before)
    with pytest.raises(ValueError, match="at least 1"):
        culturespa.runtime_set_num_threads(0)


def test_cli_info_prints_the_runtime(capsys):
    from culturespa.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "LibTorch" in out and "BLAS" in out and "threads" in out
