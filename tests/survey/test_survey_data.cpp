#include "culturespa/core/error.h"
#include "culturespa/core/sha256.h"
#include "culturespa/survey/survey_data.h"

#include "support.h"

#include <cstdlib>
#include <fstream>

using namespace culturespa;
namespace fs = std::filesystem;

namespace {

// Points CULTURESPA_CACHE at a scratch folder for the test's lifetime.
struct ScratchCache {
  explicit ScratchCache(const std::string& name) : dir(testing::scratch_dir(name)) {
    const char* old = std::getenv("CULTURESPA_CACHE");
    if (old) previous = old;
    ::setenv("CULTURESPA_CACHE", dir.c_str(), 1);
  }
  ~ScratchCache() {
    if (previous) ::setenv("CULTURESPA_CACHE", previous->c_str(), 1);
    else ::unsetenv("CULTURESPA_CACHE");
  }
  fs::path dir;
  std::optional<std::string> previous;
};

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-4 test vectors", "[survey_data]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // 55 and 56 bytes: the padding's two boundary cases.
  CHECK(sha256_hex(std::string(55, 'x')) != sha256_hex(std::string(56, 'x')));
  const auto dir = testing::scratch_dir("sha256");
  write(dir / "f", "abc");
  CHECK(sha256_file((dir / "f").string()) == sha256_hex("abc"));
  testing::require_throws_naming<FileError>([&] { sha256_file((dir / "none").string()); }, {"none"});
}

TEST_CASE("the wvs7 release is pinned and its cache path follows CULTURESPA_CACHE", "[survey_data]") {
  ScratchCache cache("survey-data-path");
  const auto& release = survey_data_release("wvs7");
  CHECK(release.commit == "4e128c910953a4cc59cde2550d711f832a82b992");
  CHECK(release.files.size() == 4);
  CHECK(release.url(release.files[0]) ==
        "https://raw.githubusercontent.com/shaoyangxu/CultureSPA/4e128c910953a4cc59cde2550d711f832a82b992/data/"
        "wvs_questions.json");
  CHECK(survey_data_path("wvs7") == (cache.dir / "data" / "wvs7").string());
  testing::require_throws_naming<ValueError>([] { survey_data_release("wvs8"); }, {"wvs8", "wvs7"});
  // Not fetched: a clear error saying how.
  testing::require_throws_naming<FileError>([] { survey_load_cached("wvs7"); },
                                            {"not fetched", "culturespa data fetch wvs7"});
  CHECK(survey_data_verify("wvs7").value().find("missing") != std::string::npos);
}

TEST_CASE("survey_data_import checks every file, copies atomically and the cache loads", "[survey_data]") {
  CULTURESPA_REQUIRE_SHARED(shared);
  ScratchCache cache("survey-data-import");
  const std::string copied = survey_data_import("wvs7", (shared / "wvs").string());
  CHECK(copied == survey_data_path("wvs7"));
  CHECK_FALSE(survey_data_verify("wvs7").has_value());
  CHECK_FALSE(fs::exists(fs::path(copied) / "prompts.json"));  // only the pinned files
  const Survey survey = survey_load_cached("wvs7");
  CHECK(survey.evaluated_ids().size() == 259);
  CHECK(survey.cultures().size() == 18);

  // A corrupt cached file: verify names it, loading refuses with how to refetch.
  write(fs::path(copied) / "country_similarity.json", "{}");
  const auto problem = survey_data_verify("wvs7");
  REQUIRE(problem.has_value());
  CHECK(problem->find("country_similarity.json") != std::string::npos);
  testing::require_throws_naming<FormatError>([] { survey_load_cached("wvs7"); },
                                              {"country_similarity.json", "SHA-256", "culturespa data fetch wvs7"});
  // Importing again repairs it.
  survey_data_import("wvs7", (shared / "wvs").string());
  CHECK_FALSE(survey_data_verify("wvs7").has_value());

  // A source with a changed file: nothing is imported, the message names the file.
  const auto bad = testing::scratch_dir("survey-data-bad");
  for (const auto& file : survey_data_release("wvs7").files) fs::copy_file(shared / "wvs" / file.name, bad / file.name);
  fs::permissions(bad / "wvs_questions.json", fs::perms::owner_all);
  write(bad / "wvs_questions.json", "[]");
  const auto dest = cache.dir / "elsewhere";
  testing::require_throws_naming<FormatError>([&] { survey_data_import("wvs7", bad.string(), dest.string()); },
                                              {"wvs_questions.json", "6961729b", "nothing was imported"});
  CHECK_FALSE(fs::exists(dest));
  fs::remove(bad / "wvs_questions.json");
  testing::require_throws_naming<FileError>([&] { survey_data_import("wvs7", bad.string(), dest.string()); },
                                            {"wvs_questions.json", "missing"});
}
