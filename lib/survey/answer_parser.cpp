#include "culturespa/survey/answer_parser.h"

#include <limits>

namespace culturespa {

std::optional<int> answer_parse_reference(std::string_view reply) {
  std::size_t i = 0;
  while (i < reply.size() && !(reply[i] >= '0' && reply[i] <= '9')) ++i;
  if (i == reply.size()) return std::nullopt;
  long long value = 0;
  for (; i < reply.size() && reply[i] >= '0' && reply[i] <= '9'; ++i) {
    // A run too long for an int is no option id; saturate so that every
    // range check rejects it.
    value = value * 10 + (reply[i] - '0');
    if (value > std::numeric_limits<int>::max()) value = std::numeric_limits<int>::max();
  }
  return static_cast<int>(value);
}

}  // namespace culturespa
