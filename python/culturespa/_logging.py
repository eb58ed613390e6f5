"""Routes the C++ library's log messages into Python's ``logging``.

Messages go to the logger ``culturespa``. The C++ side drops messages below
its own level before formatting them, so the two levels are kept in step:
``set_log_level`` sets both, and at import the C++ level follows the logger's
effective level.
"""
from __future__ import annotations

import atexit
import logging

from . import _core

logger = logging.getLogger("culturespa")

_TO_PYTHON = {
    _core.LogLevel.debug: logging.DEBUG,
    _core.LogLevel.info: logging.INFO,
    _core.LogLevel.warning: logging.WARNING,
    _core.LogLevel.error: logging.ERROR,
}
_NAMES = {"debug": _core.LogLevel.debug, "info": _core.LogLevel.info,
          "warning": _core.LogLevel.warning, "error": _core.LogLevel.error,
          "off": _core.LogLevel.off}


def _to_core(python_level: int) -> "_core.LogLevel":
    if python_level <= logging.DEBUG:
        return _core.LogLevel.debug
    if python_level <= logging.INFO:
        return _core.LogLevel.info
    if python_level <= logging.WARNING:
        return _core.LogLevel.warning
    if python_level <= logging.ERROR:
        return _core.LogLevel.error
    return _core.LogLevel.off


def _forward(level: "_core.LogLevel", message: str) -> None:
    logger.log(_TO_PYTHON.get(level, logging.INFO), message)


def set_log_level(level: "str | int") -> None:
    """Sets the level of the ``culturespa`` logger and of the C++ library.

    ``level`` is a name ("debug", "info", "warning", "error", "off") or a
    ``logging`` level number.
    """
    if isinstance(level, str):
        if level.lower() not in _NAMES:
            raise ValueError(f"unknown log level {level!r}; expected one of {sorted(_NAMES)}")
        core_level = _NAMES[level.lower()]
        logger.setLevel(logging.CRITICAL + 1 if core_level == _core.LogLevel.off
                        else _TO_PYTHON[core_level])
    else:
        logger.setLevel(level)
        core_level = _to_core(level)
    _core.log_set_level(core_level)


def _install() -> None:
    _core.log_set_sink(_forward)
    _core.log_set_level(_to_core(logger.getEffectiveLevel()))
    # The sink calls into Python: drop it before the interpreter goes away.
    atexit.register(_core.log_set_sink, None)


_install()
