"""Progress bars for the library's long calls.

Every long call takes ``progress=``: ``None`` (quiet), ``True`` (a tqdm bar,
in notebooks a widget bar: the bindings make a ``progress_bar``), or a
callable ``f(culturespa.Progress) -> bool | None`` that returns False to cancel. Ctrl-C stops any long call with
KeyboardInterrupt at its next progress point.
"""
from __future__ import annotations

from typing import Optional

from ._core import Progress


class progress_bar:
    """A callable for ``progress=`` that draws a tqdm bar, one per stage."""

    def __init__(self, desc: Optional[str] = None, **tqdm_kwargs):
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm missing: fall back to no bar
            tqdm = None
        self._tqdm = tqdm
        self._desc = desc
        self._kwargs = tqdm_kwargs
        self._bar = None
        self._stage = None

    def __call__(self, progress: Progress) -> bool:
        if self._tqdm is None:
            return True
        if self._bar is None or progress.stage != self._stage:
            self.close()
            self._stage = progress.stage
            self._bar = self._tqdm(total=progress.total or None,
                                   desc=self._desc or progress.stage, **self._kwargs)
        self._bar.n = progress.done
        self._bar.refresh()
        if progress.total and progress.done >= progress.total:
            self.close()
        return True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __del__(self):
        self.close()

