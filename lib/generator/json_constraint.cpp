// The JSON-schema automaton, the vocabulary trie and the mask cache.
#include "culturespa/generator/json_constraint.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "culturespa/core/error.h"

namespace culturespa {

bool JsonConstraint::State::Frame::operator==(const Frame& other) const {
  return node == other.node && phase == other.phase && offset == other.offset && count == other.count;
}

namespace {

using Frame = JsonConstraint::State::Frame;
// ordered: properties are written in the order the schema text gives them.
using json = nlohmann::ordered_json;

constexpr int kMaxDepth = 16;          // nesting the automaton supports
constexpr int kMaxEnum = 31;           // enum candidates (a bit each in Frame::count)
constexpr int kMaxIntegerDigits = 18;  // fits int64
constexpr int kSearchBudget = 4000;    // states the construction's completion search may expand

enum class Kind { object, array, string, integer, literals };

// An object is compiled into literal pieces ("{\"Question\": ") and value slots.
struct Piece {
  std::string literal;
  int child = -1;  // a value slot when >= 0
};

struct Node {
  Kind kind = Kind::object;
  std::vector<Piece> pieces;            // object
  int item = -1;                        // array
  int min_items = 0, max_items = std::numeric_limits<int>::max();
  int min_length = 0, max_length = -1;  // string, in characters; -1 = unbounded
  std::vector<std::string> candidates;  // literals: the JSON texts of enum values / true / false
  int min_bytes = 0;                    // the shortest document of this node
};

// A fixed-capacity stack: the trie walk copies it at every byte.
struct Stack {
  std::array<Frame, kMaxDepth> frames;
  int depth = 0;
  bool empty() const { return depth == 0; }
  Frame& back() { return frames[depth - 1]; }
  void pop_back() { --depth; }
  bool push_back(const Frame& frame) {
    if (depth == kMaxDepth) return false;
    frames[depth++] = frame;
    return true;
  }
};

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string key_of(const Frame* frames, int depth) {
  return std::string(reinterpret_cast<const char*>(frames), sizeof(Frame) * static_cast<std::size_t>(depth));
}

}  // namespace

struct CULTURESPA_HIDDEN JsonConstraint::Impl {
  std::vector<Node> nodes;
  int root = -1;
  int vocab = 0;
  std::vector<std::string> token_text;  // token_bytes per id ("" = writes nothing)
  std::vector<int> end_ids;

  // The vocabulary trie: node 0 is the root; children as first-child /
  // next-sibling lists; tokens ending at a node as a linked list.
  std::vector<uint8_t> trie_byte;
  std::vector<int32_t> trie_child, trie_sibling, trie_token_head, token_next;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::unique_ptr<std::vector<uint8_t>>> cache;

  // --- schema compilation -----------------------------------------------------

  [[noreturn]] static void bad(const std::string& where, const std::string& what) {
    throw ConfigError("JSON schema " + where + ": " + what);
  }

  int add(Node node) {
    nodes.push_back(std::move(node));
    return static_cast<int>(nodes.size()) - 1;
  }

  static int int_field(const json& schema, const char* key, int fallback, const std::string& where) {
    if (!schema.contains(key)) return fallback;
    const auto& value = schema.at(key);
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 1000000) {
      bad(where, std::string("\"") + key + "\" must be a non-negative integer, got " + value.dump());
    }
    return value.get<int>();
  }

  static void check_keys(const json& schema, const std::vector<std::string>& allowed, const std::string& where) {
    for (const auto& [key, value] : schema.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (const auto& name : allowed) list += (list.empty() ? "" : ", ") + name;
        bad(where, "unsupported keyword \"" + key + "\" (supported here: " + list + ")");
      }
    }
  }

  int compile(const json& schema, const std::string& where, int depth) {
    if (depth >= kMaxDepth) bad(where, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
    if (!schema.is_object()) bad(where, "must be an object, got " + schema.dump());
    if (schema.contains("enum")) {
      check_keys(schema, {"enum", "type", "description", "title"}, where);
      const auto& values = schema.at("enum");
      if (!values.is_array() || values.empty()) bad(where, "\"enum\" must be a non-empty list");
      if (values.size() > kMaxEnum) bad(where, "\"enum\" has more than " + std::to_string(kMaxEnum) + " values");
      Node node;
      node.kind = Kind::literals;
      for (const auto& value : values) {
        if (!value.is_string()) bad(where, "\"enum\" values must be strings, got " + value.dump());
        node.candidates.push_back(value.dump());
      }
      return add(std::move(node));
    }
    if (!schema.contains("type") || !schema.at("type").is_string()) bad(where, "needs \"type\" (or \"enum\")");
    const std::string type = schema.at("type").get<std::string>();
    if (type == "object") {
      check_keys(schema, {"type", "properties", "required", "additionalProperties", "description", "title"}, where);
      if (schema.contains("additionalProperties") && schema.at("additionalProperties") != json(false)) {
        bad(where, "\"additionalProperties\" may only be false (every property is written, in order)");
      }
      const json properties = schema.value("properties", json::object());
      if (!properties.is_object()) bad(where, "\"properties\" must be an object");
      if (schema.contains("required")) {
        const auto& required = schema.at("required");
        if (!required.is_array()) bad(where, "\"required\" must be a list");
        for (const auto& name : required) {
          if (!name.is_string() || !properties.contains(name.get<std::string>())) {
            bad(where, "\"required\" names " + name.dump() + ", which is not among \"properties\"");
          }
        }
      }
      std::vector<std::pair<std::string, json>> ordered;
      for (const auto& [name, sub] : properties.items()) ordered.emplace_back(name, sub);
      Node node;
      node.kind = Kind::object;
      std::string literal = "{";
      std::vector<int> children;
      for (std::size_t i = 0; i < ordered.size(); ++i) {
        literal += (i ? ", " : "") + json(ordered[i].first).dump() + ": ";
        node.pieces.push_back({literal, -1});
        literal.clear();
        node.pieces.push_back({"", -2});  // filled below: nodes may grow while compiling
        children.push_back(-1);
      }
      node.pieces.push_back({literal + "}", -1});
      const int self = add(std::move(node));
      std::size_t slot = 0;
      for (std::size_t i = 0; i < ordered.size(); ++i) {
        const int child = compile(ordered[i].second, where + "." + ordered[i].first, depth + 1);
        while (nodes[self].pieces[slot].child != -2) ++slot;
        nodes[self].pieces[slot].child = child;
      }
      return self;
    }
    if (type == "array") {
      check_keys(schema, {"type", "items", "minItems", "maxItems", "description", "title"}, where);
      if (!schema.contains("items")) bad(where, "an array needs \"items\"");
      Node node;
      node.kind = Kind::array;
      node.min_items = int_field(schema, "minItems", 0, where);
      node.max_items = int_field(schema, "maxItems", std::numeric_limits<int>::max(), where);
      if (node.min_items > node.max_items) {
        bad(where, "minItems " + std::to_string(node.min_items) + " > maxItems " + std::to_string(node.max_items) +
                       ": no array can meet it");
      }
      const int self = add(std::move(node));
      const int item = compile(schema.at("items"), where + "[]", depth + 1);
      nodes[self].item = item;
      return self;
    }
    if (type == "string") {
      check_keys(schema, {"type", "minLength", "maxLength", "description", "title"}, where);
      Node node;
      node.kind = Kind::string;
      node.min_length = int_field(schema, "minLength", 0, where);
      node.max_length = int_field(schema, "maxLength", -1, where);
      if (node.max_length >= 0 && node.min_length > node.max_length) {
        bad(where, "minLength " + std::to_string(node.min_length) + " > maxLength " +
                       std::to_string(node.max_length) + ": no string can meet it");
      }
      return add(std::move(node));
    }
    if (type == "integer") {
      check_keys(schema, {"type", "description", "title"}, where);
      Node node;
      node.kind = Kind::integer;
      return add(std::move(node));
    }
    if (type == "boolean") {
      check_keys(schema, {"type", "description", "title"}, where);
      Node node;
      node.kind = Kind::literals;
      node.candidates = {"true", "false"};
      return add(std::move(node));
    }
    bad(where, "unsupported type \"" + type + "\" (supported: object, array, string, integer, boolean, enum)");
  }

  void compute_min_bytes(int index) {
    Node& node = nodes[index];
    switch (node.kind) {
      case Kind::object:
        node.min_bytes = 0;
        for (const auto& piece : node.pieces) {
          if (piece.child >= 0) {
            compute_min_bytes(piece.child);
            nodes[index].min_bytes += nodes[piece.child].min_bytes;
          } else {
            nodes[index].min_bytes += static_cast<int>(piece.literal.size());
          }
        }
        return;
      case Kind::array: {
        compute_min_bytes(node.item);
        Node& self = nodes[index];
        const int item = nodes[self.item].min_bytes;
        self.min_bytes = 2 + (self.min_items == 0 ? 0 : item + (self.min_items - 1) * (2 + item));
        return;
      }
      case Kind::string: node.min_bytes = 2 + node.min_length; return;
      case Kind::integer: node.min_bytes = 1; return;
      case Kind::literals: {
        std::size_t shortest = node.candidates.front().size();
        for (const auto& c : node.candidates) shortest = std::min(shortest, c.size());
        node.min_bytes = static_cast<int>(shortest);
        for (const auto& a : node.candidates) {
          for (const auto& b : node.candidates) {
            if (&a != &b && b.size() > a.size() && b.compare(0, a.size(), a) == 0) {
              bad("enum", "value " + a + " is a prefix of " + b);  // cannot happen for quoted strings
            }
          }
        }
        return;
      }
    }
  }

  // --- the automaton ----------------------------------------------------------

  Frame frame_start(int node) const {
    Frame frame;
    frame.node = node;
    if (nodes[node].kind == Kind::literals) {
      frame.count = static_cast<int32_t>((1u << nodes[node].candidates.size()) - 1);
    }
    return frame;
  }

  // Feeds one byte; false when no document of the schema continues with it
  // (the stack is then left in an unspecified state).
  bool feed(Stack& stack, uint8_t c) const {
    while (!stack.empty()) {
      Frame& f = stack.back();
      const Node& n = nodes[f.node];
      switch (n.kind) {
        case Kind::object: {
          const Piece& piece = n.pieces[f.phase];
          if (piece.child >= 0) {  // the value comes next: the child reads this byte
            ++f.phase;
            if (!stack.push_back(frame_start(piece.child))) return false;
            continue;
          }
          if (static_cast<uint8_t>(piece.literal[f.offset]) != c) return false;
          if (++f.offset == static_cast<int32_t>(piece.literal.size())) {
            f.offset = 0;
            if (++f.phase == static_cast<int32_t>(n.pieces.size())) stack.pop_back();
          }
          return true;
        }
        case Kind::array:
          switch (f.phase) {
            case 0:
              if (c != '[') return false;
              f.phase = 1;
              return true;
            case 1:
              if (c == ']') {
                if (n.min_items > 0) return false;
                stack.pop_back();
                return true;
              }
              if (n.max_items == 0) return false;
              f.phase = 2;
              f.count = 1;
              if (!stack.push_back(frame_start(n.item))) return false;
              continue;
            case 2:
              if (c == ']' && f.count >= n.min_items) {
                stack.pop_back();
                return true;
              }
              if (c == ',' && f.count < n.max_items) {
                f.phase = 3;
                return true;
              }
              return false;
            case 3:
              if (c != ' ') return false;
              f.phase = 4;
              return true;
            default:  // 4: the next item reads this byte
              f.phase = 2;
              ++f.count;
              if (!stack.push_back(frame_start(n.item))) return false;
              continue;
          }
        case Kind::string: return feed_string(stack, f, n, c);
        case Kind::integer:
          switch (f.phase) {
            case 0:
              if (c == '-') {
                f.phase = 1;
                return true;
              }
              [[fallthrough]];
            case 1:
              if (c == '0') {
                f.phase = 2;
                return true;
              }
              if (c >= '1' && c <= '9') {
                f.phase = 3;
                f.count = 1;
                return true;
              }
              return false;
            case 2:  // complete after "0": the byte belongs to the parent
              stack.pop_back();
              continue;
            default:
              if (is_digit(c)) {
                if (f.count >= kMaxIntegerDigits) return false;
                ++f.count;
                return true;
              }
              stack.pop_back();
              continue;
          }
        case Kind::literals: {
          uint32_t live = 0;
          for (std::size_t i = 0; i < n.candidates.size(); ++i) {
            if (((static_cast<uint32_t>(f.count) >> i) & 1u) && static_cast<int32_t>(n.candidates[i].size()) > f.phase &&
                static_cast<uint8_t>(n.candidates[i][f.phase]) == c) {
              live |= 1u << i;
            }
          }
          if (!live) return false;
          f.count = static_cast<int32_t>(live);
          ++f.phase;
          for (std::size_t i = 0; i < n.candidates.size(); ++i) {
            if (((live >> i) & 1u) && static_cast<int32_t>(n.candidates[i].size()) == f.phase) {
              stack.pop_back();  // candidates are prefix-free: this one is complete
              break;
            }
          }
          return true;
        }
      }
    }
    return false;  // the document is complete: nothing may follow
  }

  // String phases: 0 before the opening quote, 1 in the text, 2 after a
  // backslash, 3..6 in a \uXXXX escape, 7..10 at the first continuation
  // byte of a character led by E0, ED, F0 or F4 (whose range is narrower: no
  // overlong forms, no surrogates, nothing above U+10FFFF), so that the text
  // is always valid UTF-8. `offset` counts the continuation bytes the current
  // character still needs; `count` the characters written, saturating where
  // the length limits stop caring.
  static constexpr int32_t kFirstContinuation = 7;
  struct ByteRange {
    uint8_t lead, low, high;
  };
  static constexpr std::array<ByteRange, 4> kNarrowLeads{{{0xE0, 0xA0, 0xBF},
                                                           {0xED, 0x80, 0x9F},
                                                           {0xF0, 0x90, 0xBF},
                                                           {0xF4, 0x80, 0x8F}}};

  bool feed_string(Stack& stack, Frame& f, const Node& n, uint8_t c) const {
    const int cap = std::max(n.min_length, n.max_length);
    auto one_more_char = [&] {
      if (f.count < cap) ++f.count;
    };
    const bool room = n.max_length < 0 || f.count < n.max_length;
    if (f.phase == 0) {
      if (c != '"') return false;
      f.phase = 1;
      return true;
    }
    if (f.phase == 2) {
      if (c == 'u') {
        f.phase = 3;
        return true;
      }
      if (c == 0 || !std::strchr("\"\\/bfnrt", c)) return false;
      f.phase = 1;
      one_more_char();
      return true;
    }
    if (f.phase >= 3 && f.phase < kFirstContinuation) {
      if (!is_hex(c)) return false;
      if (++f.phase == kFirstContinuation) {
        f.phase = 1;
        one_more_char();
      }
      return true;
    }
    if (f.phase >= kFirstContinuation) {
      const ByteRange& range = kNarrowLeads[f.phase - kFirstContinuation];
      if (c < range.low || c > range.high) return false;
      f.phase = 1;
      --f.offset;
      return true;
    }
    if (f.offset > 0) {  // phase 1, inside a character
      if (c < 0x80 || c > 0xBF) return false;
      if (--f.offset == 0) one_more_char();
      return true;
    }
    if (c == '"') {
      if (f.count < n.min_length) return false;
      stack.pop_back();
      return true;
    }
    if (!room) return false;
    if (c == '\\') {
      f.phase = 2;
      return true;
    }
    if (c < 0x20) return false;  // control characters must be escaped in JSON
    if (c < 0x80) {
      one_more_char();
      return true;
    }
    if (c >= 0xC2 && c <= 0xDF) f.offset = 1;
    else if (c >= 0xE0 && c <= 0xEF) f.offset = 2;
    else if (c >= 0xF0 && c <= 0xF4) f.offset = 3;
    else return false;
    for (std::size_t i = 0; i < kNarrowLeads.size(); ++i) {
      if (kNarrowLeads[i].lead == c) f.phase = kFirstContinuation + static_cast<int32_t>(i);
    }
    return true;
  }

  // A lower bound of the bytes that still complete the document (guides the
  // construction's search for a completion).
  int bytes_to_complete(const Stack& stack) const {
    int total = 0;
    for (int level = 0; level < stack.depth; ++level) {
      const Frame& f = stack.frames[level];
      const Node& n = nodes[f.node];
      switch (n.kind) {
        case Kind::object:
          for (std::size_t p = f.phase; p < n.pieces.size(); ++p) {
            const Piece& piece = n.pieces[p];
            if (piece.child >= 0) total += nodes[piece.child].min_bytes;
            else total += static_cast<int>(piece.literal.size()) - (p == static_cast<std::size_t>(f.phase) ? f.offset : 0);
          }
          break;
        case Kind::array: {
          const int item = nodes[n.item].min_bytes;
          const int missing = std::max(0, n.min_items - f.count);
          if (f.phase == 0) total += n.min_bytes;
          else if (f.phase == 1) total += (n.min_items == 0 ? 1 : item + (n.min_items - 1) * (2 + item) + 1);
          else if (f.phase == 2) total += missing * (2 + item) + 1;
          else total += (f.phase == 3 ? 1 : 0) + item + std::max(0, missing - 1) * (2 + item) + 1;
          break;
        }
        case Kind::string:
          if (f.phase == 0) total += n.min_bytes;
          else total += f.offset + std::max(0, n.min_length - f.count) + 1 + (f.phase >= 2 ? 1 : 0);
          break;
        case Kind::integer: total += f.phase <= 1 ? 1 : 0; break;
        case Kind::literals: {
          int shortest = std::numeric_limits<int>::max();
          for (std::size_t i = 0; i < n.candidates.size(); ++i) {
            if ((static_cast<uint32_t>(f.count) >> i) & 1u) {
              shortest = std::min(shortest, static_cast<int>(n.candidates[i].size()) - f.phase);
            }
          }
          total += shortest;
          break;
        }
      }
    }
    return total;
  }

  // --- vocabulary ---------------------------------------------------------------

  void build_trie() {
    std::vector<int> order;
    for (int id = 0; id < vocab; ++id) {
      if (!token_text[id].empty()) order.push_back(id);
    }
    std::sort(order.begin(), order.end(), [&](int a, int b) { return token_text[a] < token_text[b]; });
    trie_byte.assign(1, 0);
    trie_child.assign(1, -1);
    trie_sibling.assign(1, -1);
    trie_token_head.assign(1, -1);
    token_next.assign(vocab, -1);
    std::vector<int> path{0};  // trie nodes along the previous token's bytes
    std::string previous;
    for (int id : order) {
      const std::string& text = token_text[id];
      std::size_t shared = 0;
      while (shared < previous.size() && shared < text.size() && previous[shared] == text[shared]) ++shared;
      path.resize(shared + 1);
      for (std::size_t i = shared; i < text.size(); ++i) {
        const int parent = path.back();
        const int node = static_cast<int>(trie_byte.size());
        trie_byte.push_back(static_cast<uint8_t>(text[i]));
        trie_child.push_back(-1);
        trie_token_head.push_back(-1);
        // Sorted input: a new child is the parent's last; prepending keeps the
        // walk's work the same, order does not matter.
        trie_sibling.push_back(trie_child[parent]);
        trie_child[parent] = node;
        path.push_back(node);
      }
      const int node = path.back();
      token_next[id] = trie_token_head[node];
      trie_token_head[node] = id;
      previous = text;
    }
  }

  void walk(int trie_node, const Stack& stack, std::vector<uint8_t>& mask) const {
    for (int child = trie_child[trie_node]; child != -1; child = trie_sibling[child]) {
      Stack next = stack;
      if (!feed(next, trie_byte[child])) continue;
      for (int id = trie_token_head[child]; id != -1; id = token_next[id]) mask[id] = 1;
      walk(child, next, mask);
    }
  }

  static Stack to_stack(const State& state) {
    Stack stack;
    if (state.stack.size() > static_cast<std::size_t>(kMaxDepth)) {
      throw ValueError("JsonConstraint: state deeper than the automaton allows");
    }
    for (const auto& frame : state.stack) stack.push_back(frame);
    return stack;
  }

  static void to_state(const Stack& stack, State& state) {
    state.stack.assign(stack.frames.begin(), stack.frames.begin() + stack.depth);
  }

  const std::vector<uint8_t>& mask_of(const Stack& stack) const {
    const std::string key = key_of(stack.frames.data(), stack.depth);
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      auto found = cache.find(key);
      if (found != cache.end()) return *found->second;
    }
    auto mask = std::make_unique<std::vector<uint8_t>>(vocab, 0);
    if (stack.empty()) {
      for (int id : end_ids) (*mask)[id] = 1;
    } else {
      walk(0, stack, *mask);
    }
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto inserted = cache.emplace(key, std::move(mask));  // another thread may have won: keep its mask
    return *inserted.first->second;
  }

  // Looks for one token sequence that completes the document, trying the
  // tokens that bring it closest to completion first.
  bool completion_exists() const {
    Stack start;
    start.push_back(frame_start(root));
    std::unordered_set<std::string> seen;
    int budget = kSearchBudget;
    std::vector<std::pair<int, Stack>> frontier{{bytes_to_complete(start), start}};
    // Best-first search over distinct automaton states.
    while (!frontier.empty() && budget-- > 0) {
      std::pop_heap(frontier.begin(), frontier.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
      Stack stack = frontier.back().second;
      frontier.pop_back();
      if (stack.empty()) return true;
      if (!seen.insert(key_of(stack.frames.data(), stack.depth)).second) continue;
      const auto& mask = mask_of(stack);
      std::vector<std::pair<int, Stack>> moves;
      for (int id = 0; id < vocab; ++id) {
        if (!mask[id] || token_text[id].empty()) continue;
        Stack next = stack;
        bool ok = true;
        for (unsigned char c : token_text[id]) ok = ok && feed(next, c);
        if (!ok) continue;
        moves.emplace_back(bytes_to_complete(next), next);
      }
      // Only the most promising moves of each state: the search needs one path.
      std::partial_sort(moves.begin(), moves.begin() + std::min<std::size_t>(8, moves.size()), moves.end(),
                        [](const auto& a, const auto& b) { return a.first < b.first; });
      moves.resize(std::min<std::size_t>(8, moves.size()));
      for (auto& move : moves) {
        frontier.push_back(std::move(move));
        std::push_heap(frontier.begin(), frontier.end(),
                       [](const auto& a, const auto& b) { return a.first > b.first; });
      }
    }
    return false;
  }
};

JsonConstraint::JsonConstraint(const std::string& schema, const Tokenizer& tokenizer, std::vector<int> end_ids)
    : impl_(std::make_unique<Impl>()) {
  auto& d = *impl_;
  json parsed;
  try {
    parsed = json::parse(schema);
  } catch (const json::exception& e) {
    throw ConfigError(std::string("JSON schema is not valid JSON: ") + e.what());
  }
  d.root = d.compile(parsed, "$", 0);
  const Kind root_kind = d.nodes[d.root].kind;
  if (root_kind != Kind::object && root_kind != Kind::array) {
    Impl::bad("$", "the document must be an object or an array");
  }
  d.compute_min_bytes(d.root);

  d.vocab = tokenizer.vocab_size();
  d.token_text.resize(d.vocab);
  for (int id = 0; id < d.vocab; ++id) {
    if (!tokenizer.is_special(id)) d.token_text[id] = tokenizer.token_bytes(id);
  }
  d.end_ids = end_ids.empty() ? tokenizer.stop_ids() : std::move(end_ids);
  for (int id : d.end_ids) {
    if (id < 0 || id >= d.vocab) {
      throw ValueError("JsonConstraint: end id " + std::to_string(id) + " is outside the vocabulary (0.." +
                       std::to_string(d.vocab - 1) + ")");
    }
  }
  if (d.end_ids.empty()) throw ConfigError("JsonConstraint: the tokenizer has no stop ids; pass end_ids");
  d.build_trie();
  if (!d.completion_exists()) {
    throw ConfigError("JSON schema cannot be met with this tokenizer's vocabulary: no token sequence completes a "
                      "document (a character the schema needs may have no token)");
  }
}

JsonConstraint::~JsonConstraint() = default;

std::string JsonConstraint::question_schema(int min_options, int max_options) {
  const json text = {{"type", "string"}, {"minLength", 1}};
  const json schema = {
      {"type", "object"},
      {"properties",
       {{"Question", text},
        {"Options", {{"type", "array"}, {"items", text}, {"minItems", min_options}, {"maxItems", max_options}}}}},
      {"required", {"Question", "Options"}}};
  return schema.dump();
}

JsonConstraint::State JsonConstraint::start() const {
  State state;
  state.stack.push_back(impl_->frame_start(impl_->root));
  return state;
}

const std::vector<uint8_t>& JsonConstraint::allowed(const State& state) const {
  return impl_->mask_of(Impl::to_stack(state));
}

bool JsonConstraint::advance(State& state, int token) const {
  const auto& d = *impl_;
  if (token < 0 || token >= d.vocab) {
    throw ValueError("JsonConstraint: token id " + std::to_string(token) + " is outside the vocabulary (0.." +
                     std::to_string(d.vocab - 1) + ")");
  }
  if (state.complete()) return std::find(d.end_ids.begin(), d.end_ids.end(), token) != d.end_ids.end();
  if (d.token_text[token].empty()) return false;
  return advance_bytes(state, d.token_text[token]);
}

bool JsonConstraint::advance_bytes(State& state, const std::string& bytes) const {
  Stack stack = Impl::to_stack(state);
  for (unsigned char c : bytes) {
    if (!impl_->feed(stack, c)) return false;
  }
  Impl::to_state(stack, state);
  return true;
}

int JsonConstraint::vocab_size() const { return impl_->vocab; }

std::size_t JsonConstraint::cached_states() const {
  std::lock_guard<std::mutex> lock(impl_->cache_mutex);
  return impl_->cache.size();
}

std::vector<uint8_t> JsonConstraint::allowed_brute_force(const State& state) const {
  const auto& d = *impl_;
  std::vector<uint8_t> mask(d.vocab, 0);
  if (state.complete()) {
    for (int id : d.end_ids) mask[id] = 1;
    return mask;
  }
  for (int id = 0; id < d.vocab; ++id) {
    if (d.token_text[id].empty()) continue;
    State copy = state;
    mask[id] = advance_bytes(copy, d.token_text[id]) ? 1 : 0;
  }
  return mask;
}

}  // namespace culturespa
