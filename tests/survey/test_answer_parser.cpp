#include "culturespa/survey/answer_parser.h"

#include "support.h"

using culturespa::answer_parse_reference;

TEST_CASE("reference parse takes the first run of digits") {
  CHECK(answer_parse_reference("3") == 3);
  CHECK(answer_parse_reference("I would choose 2. Quite important") == 2);
  CHECK(answer_parse_reference("10 - Always justifiable") == 10);
  CHECK(answer_parse_reference("Option 12, then 3") == 12);
  CHECK_FALSE(answer_parse_reference("I cannot answer that.").has_value());
  CHECK_FALSE(answer_parse_reference("").has_value());
  CHECK(answer_parse_reference("99999999999999999999") == std::numeric_limits<int>::max());
}
