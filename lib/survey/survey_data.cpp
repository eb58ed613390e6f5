#include "culturespa/survey/survey_data.h"

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "culturespa/core/error.h"
#include "culturespa/core/sha256.h"

namespace culturespa {

namespace fs = std::filesystem;

namespace {

const std::vector<SurveyDataRelease>& releases() {
  static const std::vector<SurveyDataRelease> known = {
      {"wvs7",
       "shaoyangxu/CultureSPA",
       "4e128c910953a4cc59cde2550d711f832a82b992",
       "data",
       {{"wvs_questions.json", "6961729ba41c4a0dffe5ac18af42feac1e79667b8202f4148ec6d1838347875b"},
        {"proportions_group_by_country.json", "85fdd9c01b40fbf3ec2e94753f4a8f15b1955ba53548c24c04c9265dba26f8cb"},
        {"country_similarity.json", "380c299619215b5a3694baf8d5fab0925ece9731ae14eeed507ec755e2f5d900"},
        {"self_alignment_examples.json", "5b1d91607e96bcc920a5336bbc1123d97ffe0331f81580fd827bcf59b24f3d98"}}},
  };
  return known;
}

std::string fetch_hint(std::string_view name) {
  return "run `culturespa data fetch " + std::string(name) + "` (or `culturespa data fetch " + std::string(name) +
         " --from DIR` with a local copy of the release's files)";
}

// Why `path` is not the pinned file, or nullopt.
std::optional<std::string> file_problem(const fs::path& path, const SurveyDataFile& file) {
  if (!fs::is_regular_file(path)) return path.string() + " is missing";
  const std::string actual = sha256_file(path.string());
  if (actual != file.sha256)
    return path.string() + " has SHA-256 " + actual + ", not the pinned " + file.sha256;
  return std::nullopt;
}

}  // namespace

std::string SurveyDataRelease::url(const SurveyDataFile& file) const {
  return "https://raw.githubusercontent.com/" + repository + "/" + commit + "/" + folder + "/" + file.name;
}

std::vector<std::string> survey_data_names() {
  std::vector<std::string> names;
  for (const auto& r : releases()) names.push_back(r.name);
  return names;
}

const SurveyDataRelease& survey_data_release(std::string_view name) {
  std::string known;
  for (const auto& r : releases()) {
    if (r.name == name) return r;
    known += (known.empty() ? "" : ", ") + r.name;
  }
  throw ValueError("unknown survey data \"" + std::string(name) + "\" (known: " + known + ")");
}

std::string cache_dir() {
  if (const char* env = std::getenv("CULTURESPA_CACHE"); env && *env) {
    std::string path = env;
    if (path.rfind("~/", 0) == 0)
      if (const char* home = std::getenv("HOME")) path = std::string(home) + path.substr(1);
    return path;
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return (fs::path(xdg) / "culturespa").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".cache" / "culturespa").string();
}

std::string survey_data_path(std::string_view name) {
  survey_data_release(name);
  return (fs::path(cache_dir()) / "data" / std::string(name)).string();
}

std::optional<std::string> survey_data_verify(std::string_view name, const std::string& dir) {
  const SurveyDataRelease& release = survey_data_release(name);
  const fs::path folder = dir.empty() ? fs::path(survey_data_path(name)) : fs::path(dir);
  for (const auto& file : release.files)
    if (auto problem = file_problem(folder / file.name, file)) return problem;
  return std::nullopt;
}

std::string survey_data_import(std::string_view name, const std::string& from_dir, const std::string& dest) {
  const SurveyDataRelease& release = survey_data_release(name);
  const fs::path from(from_dir);
  if (!fs::is_directory(from))
    throw FileError(FileError::Kind::not_found, from_dir, from_dir + ": no such folder (the " +
                                                              release.name + " files to import)");
  for (const auto& file : release.files) {
    const fs::path path = from / file.name;
    if (!fs::is_regular_file(path))
      throw FileError(FileError::Kind::not_found, path.string(),
                      path.string() + " is missing (" + release.name + " needs " + file.name + ")");
    if (auto problem = file_problem(path, file))
      throw FormatError(*problem + ": not the " + release.repository + "@" + release.commit.substr(0, 7) +
                        " file; nothing was imported");
  }
  const fs::path target = dest.empty() ? fs::path(survey_data_path(name)) : fs::path(dest);
  fs::create_directories(target.parent_path().empty() ? fs::path(".") : target.parent_path());
  const fs::path staging = target.parent_path() / ("." + target.filename().string() + ".import-" +
                                                   std::to_string(::getpid()));
  std::error_code ignored;
  fs::remove_all(staging, ignored);
  try {
    fs::create_directories(staging);
    for (const auto& file : release.files) {
      fs::copy_file(from / file.name, staging / file.name, fs::copy_options::overwrite_existing);
      fs::permissions(staging / file.name, fs::perms::owner_read | fs::perms::owner_write |
                                               fs::perms::group_read | fs::perms::others_read);
      // A copy that went wrong on the way (full disk) must not be kept.
      if (auto problem = file_problem(staging / file.name, file)) throw FormatError(*problem);
    }
    // Swap: the old copy moves aside first so that a reader never sees a mix.
    const fs::path old = target.parent_path() / ("." + target.filename().string() + ".old-" +
                                                 std::to_string(::getpid()));
    if (fs::exists(target)) fs::rename(target, old);
    fs::rename(staging, target);
    fs::remove_all(old, ignored);
  } catch (const fs::filesystem_error& error) {
    fs::remove_all(staging, ignored);
    throw FileError(FileError::Kind::io, target.string(),
                    "cannot write " + target.string() + ": " + error.code().message());
  } catch (...) {
    fs::remove_all(staging, ignored);
    throw;
  }
  return target.string();
}

Survey survey_load_cached(std::string_view name) {
  const std::string dir = survey_data_path(name);
  if (!fs::exists(fs::path(dir) / survey_data_release(name).files.front().name))
    throw FileError(FileError::Kind::not_found, dir,
                    "the " + std::string(name) + " survey data is not fetched (" + dir + "): " + fetch_hint(name));
  if (auto problem = survey_data_verify(name, dir))
    throw FormatError(*problem + ": the cached " + std::string(name) + " data is damaged; " + fetch_hint(name) +
                      " again");
  return survey_load_wvs7(dir);
}

Survey survey_default(const std::string& path, std::string_view name) {
  if (!path.empty()) return survey_load(path);
  if (const char* chosen = std::getenv("CULTURESPA_SURVEY"); chosen && *chosen) return survey_load(chosen);
  return survey_load_cached(name);
}

}  // namespace culturespa
