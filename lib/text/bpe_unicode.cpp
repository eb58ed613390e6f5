// The Unicode and regex helpers of the BPE engine: PCRE2 patterns, utf8proc
// normalization, UTF-8 validation and the byte-level alphabet.
#include "bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <cstdlib>

#include "culturespa/core/error.h"
#include "culturespa/core/utf8.h"

namespace culturespa::text_detail {

namespace {

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

// One JIT stack and match block per thread and pattern size class: PCRE2's
// default 32 KiB JIT stack is too small for `\s+(?!\S)` on long whitespace.
struct ThreadMatchState {
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_match_data* data = nullptr;
  ThreadMatchState() {
    stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(context, nullptr, stack);
    data = pcre2_match_data_create(4, nullptr);
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

ThreadMatchState& thread_match_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) : where_(where) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw FormatError(where + ": the split pattern does not compile at offset " +
                      std::to_string(error_offset) + " (" +
                      reinterpret_cast<const char*>(message) + "): " + pattern);
  }
  // Without JIT support (some architectures) pcre2_match interprets: slower, same result.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  code_ = code;
}

Regex::Regex(Regex&& other) noexcept : code_(other.code_), where_(std::move(other.where_)) {
  other.code_ = nullptr;
}

Regex& Regex::operator=(Regex&& other) noexcept {
  std::swap(code_, other.code_);
  std::swap(where_, other.where_);
  return *this;
}

Regex::~Regex() {
  if (code_) pcre2_code_free(as_code(code_));
}

std::pair<std::size_t, std::size_t> Regex::find(std::string_view text, std::size_t offset) const {
  auto& state = thread_match_state();
  // The text was validated (or sanitized) before it got here.
  const int rc = pcre2_match(as_code(code_), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(),
                             offset, PCRE2_NO_UTF_CHECK, state.data, state.context);
  if (rc == PCRE2_ERROR_NOMATCH) return {std::string_view::npos, std::string_view::npos};
  if (rc < 0) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof(message));
    throw ValueError(where_ + ": matching the split pattern failed (" +
                     reinterpret_cast<const char*>(message) + ")");
  }
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
  return {ovector[0], ovector[1]};
}

namespace {

std::string utf8proc_normalize(std::string_view text, UnicodeForm form) {
  int options = UTF8PROC_STABLE;
  switch (form) {
    case UnicodeForm::nfc: options |= UTF8PROC_COMPOSE; break;
    case UnicodeForm::nfd: options |= UTF8PROC_DECOMPOSE; break;
    case UnicodeForm::nfkc: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case UnicodeForm::nfkd: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* result = nullptr;
  const auto length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                   static_cast<utf8proc_ssize_t>(text.size()), &result,
                                   static_cast<utf8proc_option_t>(options));
  if (length < 0) {
    throw ValueError(std::string("Unicode normalization failed: ") + utf8proc_errmsg(length));
  }
  std::string normalized(reinterpret_cast<const char*>(result), static_cast<std::size_t>(length));
  std::free(result);
  return normalized;
}

}  // namespace

std::string unicode_normalize(std::string_view text, UnicodeForm form) {
  // ASCII characters have no decompositions, are starters (so reordering
  // stops at them) and never compose with what precedes them; only the one
  // right before a non-ASCII run may be the base of a combining mark. So only
  // the non-ASCII runs, each with the ASCII character before it, go through
  // utf8proc: survey text is mostly ASCII.
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t run = i;
    while (run < text.size() && static_cast<unsigned char>(text[run]) < 0x80) ++run;
    if (run == text.size()) {
      out.append(text.substr(i));
      break;
    }
    const std::size_t start = run > i ? run - 1 : run;  // keep the possible base with the run
    out.append(text.substr(i, start - i));
    std::size_t end = run;
    while (end < text.size() && static_cast<unsigned char>(text[end]) >= 0x80) ++end;
    out += utf8proc_normalize(text.substr(start, end - start), form);
    i = end;
  }
  return out;
}

bool utf8_is_valid(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t consumed;
    const std::size_t length = utf8_sequence_length(text, i, &consumed);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string utf8_sanitize(std::string_view text) {
  if (utf8_is_valid(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    std::size_t consumed;
    const std::size_t length = utf8_sequence_length(text, i, &consumed);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      i += consumed;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

const std::array<std::string, 256>& byte_level_alphabet() {
  static const std::array<std::string, 256> alphabet = [] {
    std::array<std::string, 256> table;
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const int codepoint = printable(b) ? b : next++;
      utf8proc_uint8_t buffer[4];
      const auto n = utf8proc_encode_char(codepoint, buffer);
      table[b] = std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
    }
    return table;
  }();
  return alphabet;
}

}  // namespace culturespa::text_detail
