// culturespa/survey/survey_data.h: the survey data a user fetches once per
// machine (docs/evaluation.md, "Survey data").
//
// culturespa ships no survey text. The WVS-7 files of the CultureSPA
// reference release are pinned here (repository, commit, each file's
// SHA-256); `culturespa data fetch wvs7` downloads them (Python, urllib) or
// imports them from a local copy (`--from DIR`, survey_data_import) into the
// cache, and every reader checks them against the pins before use.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API SurveyDataFile {
  std::string name;    // file name in the release folder, e.g. "wvs_questions.json"
  std::string sha256;  // 64 lowercase hex digits
};

// A pinned data release: files of one folder of a GitHub repository at one commit.
struct CULTURESPA_API SurveyDataRelease {
  std::string name;        // "wvs7"
  std::string repository;  // "shaoyangxu/CultureSPA"
  std::string commit;      // 40 hex digits
  std::string folder;      // folder in the repository, "data"
  std::vector<SurveyDataFile> files;

  // https://raw.githubusercontent.com/<repository>/<commit>/<folder>/<file>
  std::string url(const SurveyDataFile& file) const;
};

// The releases culturespa knows ("wvs7").
CULTURESPA_API std::vector<std::string> survey_data_names();
// A release by name; ValueError listing the known names otherwise.
CULTURESPA_API const SurveyDataRelease& survey_data_release(std::string_view name);

// The cache root: $CULTURESPA_CACHE, else $XDG_CACHE_HOME/culturespa, else
// ~/.cache/culturespa (the same root as the Python model fetch).
CULTURESPA_API std::string cache_dir();
// Where the fetched copy of a release lives: <cache>/data/<name>.
CULTURESPA_API std::string survey_data_path(std::string_view name = "wvs7");

// Why `dir` is not a good copy of the release (a missing file, or one whose
// SHA-256 differs from the pin, naming both digests); nullopt when every
// file matches. `dir` empty: the cached copy.
CULTURESPA_API std::optional<std::string> survey_data_verify(std::string_view name = "wvs7", const std::string& dir = "");

// Copies the release's files from `from_dir` (a local copy, or a folder a
// download was written to) into `dest` (empty: the cache), checking each
// file's SHA-256 first: a missing file is a FileError, a mismatch a
// FormatError naming the file and both digests, and nothing is copied then.
// The files are written into a temporary folder beside `dest` and renamed
// into place, so a failed import leaves the previous copy as it was.
// Returns `dest`.
CULTURESPA_API std::string survey_data_import(std::string_view name, const std::string& from_dir, const std::string& dest = "");

// The cached release loaded as a Survey (survey_load_wvs7). FileError saying
// how to fetch it when it is missing; FormatError (naming the file, and
// saying to fetch again) when a cached file fails its SHA-256 check.
CULTURESPA_API Survey survey_load_cached(std::string_view name = "wvs7");

// The survey a command or an evaluator without an explicit survey uses:
// `path` when given (survey_load), else $CULTURESPA_SURVEY, else the cached
// release `name` (survey_load_cached, with its errors).
CULTURESPA_API Survey survey_default(const std::string& path = "", std::string_view name = "wvs7");

}  // namespace culturespa
