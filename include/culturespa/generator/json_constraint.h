// culturespa/generator/json_constraint.h: constrained decoding to a JSON
// schema (docs/generator.md, "Constrained generation").
//
// A JsonConstraint compiles a small JSON Schema subset into a byte-level
// pushdown automaton and answers, for any automaton state, which tokens of a
// tokenizer's vocabulary keep the output a prefix of a document the schema
// accepts. Sampling restricted to those tokens can only write such documents
// (or stop early at max_new_tokens). Masks are computed by walking a trie of
// the vocabulary's token bytes alongside the automaton, as llama.cpp's
// grammars and llguidance do, and cached per state, so a long string costs
// one mask computation, not one per token.
//
// The schema subset (anything else is a ConfigError naming the keyword):
//   {"type": "object", "properties": {...}, "required": [...]}
//       every property is written, in the order of "properties"; "required"
//       may list them (all), "additionalProperties" may be false;
//   {"type": "array", "items": S, "minItems": n, "maxItems": m}
//   {"type": "string", "minLength": n, "maxLength": m}   lengths in characters
//   {"type": "integer"}, {"type": "boolean"}, {"enum": ["a", "b", ...]} of strings
// Documents are written in one canonical layout, the one Python's json.dumps
// writes: ", " between items and ": " after keys, no other whitespace, so the
// output parses with any JSON reader.
//
// Thread safety: a JsonConstraint may be shared between threads (the mask
// cache is guarded); a State belongs to one sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "culturespa/text/tokenizer.h"
#include "culturespa/core/export.h"

namespace culturespa {

class CULTURESPA_API JsonConstraint {
 public:
  // The state of one sequence: the automaton's stack. Cheap to copy.
  struct State {
    struct Frame {
      int32_t node = 0;   // schema node
      int32_t phase = 0;  // position inside the node (node kind specific)
      int32_t offset = 0; // bytes matched of a literal, pending UTF-8 bytes, ...
      int32_t count = 0;  // items written, characters written (capped), live enum candidates
      bool operator==(const Frame& other) const;
    };
    std::vector<Frame> stack;
    // Whether the document is complete (nothing more may follow).
    bool complete() const { return stack.empty(); }
  };

  // `schema` is JSON Schema text (the subset above). `end_ids` are the tokens
  // allowed once the document is complete (default: tokenizer.stop_ids()).
  // ConfigError for a schema outside the subset, or one no sequence of the
  // vocabulary's tokens can complete (e.g. minItems > maxItems, or a character
  // the schema needs that no token writes), naming the reason.
  JsonConstraint(const std::string& schema, const Tokenizer& tokenizer, std::vector<int> end_ids = {});
  ~JsonConstraint();
  JsonConstraint(const JsonConstraint&) = delete;
  JsonConstraint& operator=(const JsonConstraint&) = delete;

  // The schema of one generated survey question, as the reference's prompt
  // asks for it: {"Question": string, "Options": [string, ...]} with
  // min_options..max_options non-empty options and a non-empty question.
  static std::string question_schema(int min_options = 2, int max_options = 11);

  State start() const;
  // One byte per token id: 1 where the token may come next. Tokens that write
  // no text (special tokens) are 0, except end_ids once the state is complete.
  // The vector stays valid as long as the constraint.
  const std::vector<uint8_t>& allowed(const State& state) const;
  // Advances by one token's bytes; false (state unchanged) when the token is
  // not allowed there. An end id is accepted only in a complete state and
  // leaves it unchanged.
  bool advance(State& state, int token) const;
  // Advances by raw bytes (tests, prompts that pre-fill the output).
  bool advance_bytes(State& state, const std::string& bytes) const;

  int vocab_size() const;
  // Distinct states whose mask has been computed so far.
  std::size_t cached_states() const;
  // The mask computed token by token without the trie or the cache (tests:
  // the trie walk must give exactly this).
  std::vector<uint8_t> allowed_brute_force(const State& state) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace culturespa
