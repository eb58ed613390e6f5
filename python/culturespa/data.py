"""Survey data a user fetches once per machine (``culturespa data fetch wvs7``).

culturespa ships no survey text. The WVS-7 files of the CultureSPA reference
release (``shaoyangxu/CultureSPA`` at a pinned commit: questions, per-country
answer shares, country similarity, self-alignment examples) are pinned by
SHA-256 in the C++ library (``culturespa/survey/survey_data.h``), which also
knows the cache folder (``<cache>/data/wvs7``, the same cache root as the model
fetch) and checks and imports files. This module adds the download: each file
is fetched over HTTPS with ``urllib`` into a temporary folder beside the cache,
and the C++ import checks every digest before anything replaces the cached copy.

    culturespa.data.data_fetch("wvs7")                   # download once, then cached
    culturespa.data.data_fetch("wvs7", source="../shared/wvs")   # offline import
    survey = culturespa.data.survey_default()            # the cached copy, checked
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Union

from . import _core
from ._core import SurveyDataFile, SurveyDataRelease

__all__ = [
    "SURVEY_ENV",
    "URL_ENV",
    "SurveyDataFile",
    "SurveyDataRelease",
    "data_fetch",
    "data_path",
    "data_release",
    "data_verify",
    "survey_default",
    "survey_default_path",
]

logger = logging.getLogger("culturespa.data")

PathLike = Union[str, os.PathLike]
SURVEY_ENV = "CULTURESPA_SURVEY"
# A mirror serving the release's files as <URL>/<file name> (tests, air-gapped sites).
URL_ENV = "CULTURESPA_DATA_URL"


def data_release(name: str = "wvs7") -> SurveyDataRelease:
    """The pinned release ``name`` (repository, commit, files with SHA-256)."""
    return _core.survey_data_release(name)


def data_path(name: str = "wvs7") -> Path:
    """Where the fetched copy of ``name`` lives (fetched or not)."""
    return Path(_core.survey_data_path(name))


def data_verify(name: str = "wvs7", path: Optional[PathLike] = None) -> Optional[str]:
    """None when ``path`` (default: the cached copy) holds every pinned file
    unchanged; otherwise why not."""
    return _core.survey_data_verify(name, os.fspath(path) if path is not None else "")


def fetch_hint(name: str = "wvs7") -> str:
    return (f"run `culturespa data fetch {name}` (downloads the pinned files once), or "
            f"`culturespa data fetch {name} --from DIR` with a local copy of them")


def _download(url: str, target: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "culturespa"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OSError(f"could not download {url}: {reason}. Offline: copy the files of the release "
                      f"to a folder and run `culturespa data fetch --from DIR`") from error


def data_fetch(name: str = "wvs7", *, source: Optional[PathLike] = None, url: Optional[str] = None,
               timeout: float = 60.0, force: bool = False) -> Path:
    """The cached copy of release ``name``, fetched on first use.

    ``source``: a local folder holding the release's files (offline import).
    ``url``: a mirror serving them as ``<url>/<file>`` (default
    ``$CULTURESPA_DATA_URL``, else raw.githubusercontent.com at the pinned
    commit). A cached copy that fails its SHA-256 check is fetched again
    (with a warning); ``force`` fetches even a good one.

    Raises OSError when a download fails, FileNotFoundError when ``source``
    lacks a file, ValueError naming the file and both digests when a file is
    not the pinned one (nothing is replaced then).
    """
    release = data_release(name)
    cached = data_path(name)
    if source is None and not force:
        problem = data_verify(name)
        if problem is None:
            return cached
        if cached.exists():
            logger.warning("%s; fetching %s again", problem, name)
    if source is not None:
        return Path(_core.survey_data_import(name, os.fspath(source)))
    base = url or os.environ.get(URL_ENV)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent, prefix=f".{name}.download-") as tmp:
        for file in release.files:
            address = f"{base.rstrip('/')}/{file.name}" if base else release.url(file)
            logger.info("downloading %s", address)
            _download(address, Path(tmp) / file.name, timeout)
        return Path(_core.survey_data_import(name, tmp))


def survey_default_path(path: Optional[PathLike] = None, name: str = "wvs7") -> str:
    """The survey a command uses: ``path``, else ``$CULTURESPA_SURVEY``, else
    the fetched copy of ``name`` (checked). FileNotFoundError saying how to
    fetch it when there is none; ValueError naming a damaged cached file."""
    chosen = path or os.environ.get(SURVEY_ENV)
    if chosen:
        return os.fspath(chosen)
    cached = data_path(name)
    problem = data_verify(name)
    if problem is not None:
        if not cached.exists():
            raise FileNotFoundError(f"no survey: the {name} data is not fetched ({cached}); {fetch_hint(name)}, "
                                    f"or give --survey DIR")
        raise ValueError(f"{problem}: the cached {name} data is damaged; {fetch_hint(name)} again")
    return os.fspath(cached)


# The Survey of survey_default_path: the lookup is C++'s (culturespa/survey/survey_data.h),
# which the evaluator uses too.
survey_default = _core.survey_default
