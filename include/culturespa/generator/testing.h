// culturespa/generator/testing.h: the generator's test helpers. The small
// test tokenizer (testing_tokenizer_write) is the text layer's
// (culturespa/text/testing.h); this header keeps older includes working.
#pragma once

#include "culturespa/text/testing.h"
