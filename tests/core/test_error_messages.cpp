// Error messages are valid UTF-8 whatever bytes they quote (issue #16:
// pybind11 could not decode a message quoting a bad file's bytes, and the
// user saw "culturespa: error: " with nothing after it).
#include "culturespa/core/error.h"
#include "culturespa/core/utf8.h"

#include "support.h"

using namespace culturespa;

TEST_CASE("core: error messages escape ill-formed UTF-8 as \\xNN") {
  CHECK(utf8_escape_invalid("plain ASCII") == "plain ASCII");
  CHECK(utf8_escape_invalid("K\xC3\xA9nya \xE2\x96\x81 \xF0\x9F\x99\x82") == "K\xC3\xA9nya \xE2\x96\x81 \xF0\x9F\x99\x82");
  CHECK(utf8_escape_invalid("bad \xFF byte") == "bad \\xFF byte");
  CHECK(utf8_escape_invalid("cut \xC3") == "cut \\xC3");               // truncated sequence
  CHECK(utf8_escape_invalid("\xC0\xAF") == "\\xC0\\xAF");              // overlong
  CHECK(utf8_escape_invalid("\xED\xA0\x80") == "\\xED\\xA0\\x80");     // surrogate
  CHECK(utf8_escape_invalid("\xF4\x90\x80\x80") == "\\xF4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(utf8_escape_invalid(std::string("nul\0ok", 6)) == std::string("nul\0ok", 6));

  const FormatError error(std::string("answers.json: item 3: \"answer\" is \"\xFF\xFE\""));
  CHECK(std::string(error.what()) == "answers.json: item 3: \"answer\" is \"\\xFF\\xFE\"");
  const FileError file_error(FileError::Kind::io, "x", "cannot read \xE9t\xE9.json");
  CHECK(std::string(file_error.what()) == "cannot read \\xE9t\\xE9.json");
}
