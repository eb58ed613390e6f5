// culturespa/text/conversation.h: chat messages, as the prompt builders make
// them and the chat templates render them.
#pragma once

#include <string>
#include <vector>
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
};

using Conversation = std::vector<ChatMessage>;

}  // namespace culturespa
