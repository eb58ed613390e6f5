"""Survey prompts and a reference tokenizer for the SmolLM2-135M-Instruct tests.

The reference tokenizer follows llama.cpp's byte-level BPE for
``tokenizer.ggml.pre = "smollm"`` (llama-vocab.cpp): the text is split on
special tokens, then every number character becomes a piece of its own
(regex ``\\p{N}``), then each piece is split by the GPT-2 regex (text no
branch matches is kept as a piece), and each piece's UTF-8 bytes, mapped to
GPT-2's printable characters, are merged by merge rank. It is written here
from that description, independently of the converter and of `tokenizers`.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import regex

GPT2_SPLIT = regex.compile(
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)")
NUMBER_SPLIT = regex.compile(r"\p{N}")

SYSTEM_CULTURE_AWARE = ("You are a real person with {} {} cultural background. Please fill out "
                        "the World Values Survey and answer the questions honestly according to "
                        "your own value system.")
USER_QUESTION = ("Given a #Question and #Options, choose the option that best aligns with your "
                 "own value system to answer the question.\n#Question: {}\n#Options: {}\n"
                 "Please return the number of the selected option only.")

IMPORTANCE = ["Very important", "Rather important", "Not very important", "Not at all important"]
AGREE = ["Agree strongly", "Agree", "Neither agree nor disagree", "Disagree", "Disagree strongly"]
# WVS wave 7 questions (public questionnaire), with their options.
QUESTIONS: List[Tuple[str, List[str]]] = [
    ("How important is family in your life?", IMPORTANCE),
    ("How important are friends in your life?", IMPORTANCE),
    ("How important is leisure time in your life?", IMPORTANCE),
    ("How important is politics in your life?", IMPORTANCE),
    ("How important is work in your life?", IMPORTANCE),
    ("How important is religion in your life?", IMPORTANCE),
    ("Taking all things together, would you say you are:",
     ["Very happy", "Quite happy", "Not very happy", "Not at all happy"]),
    ("All in all, how would you describe your state of health these days? Would you say it is:",
     ["Very good", "Good", "Fair", "Poor", "Very poor"]),
    ("One of my main goals in life has been to make my parents proud.", AGREE),
    ("When jobs are scarce, men should have more right to a job than women.", AGREE),
]
CULTURES = [("a", "Kenyan"), ("a", "German")]


def options_text(options: Sequence[str]) -> str:
    return " ".join(f"{i}.{text}" for i, text in enumerate(options, start=1))


def survey_conversations() -> List[List[Dict[str, str]]]:
    """20 culture-aware conversations (10 questions x 2 cultures)."""
    return [[{"role": "system", "content": SYSTEM_CULTURE_AWARE.format(article, adjective)},
             {"role": "user", "content": USER_QUESTION.format(question, options_text(options))}]
            for article, adjective in CULTURES for question, options in QUESTIONS]


# Texts that exercise the pre-tokenizer: digit runs, runs of spaces before
# digits and words, tabs, newlines, contractions, accents, CJK, emoji, special
# tokens written in the text.
EDGE_TEXTS = [
    "In 2024, 12  people said 345 things.\n\nOK  ",
    "  1 and   22 and\t333\n4444",
    "I'm sure they'll say it's 3.14159, isn't it? DON'T",
    "Zürich, São Paulo, Kraków, Ελλάδα, Россия, 日本語のテキスト, 한국어",
    "emoji 😀👍🏽 and symbols ½ ² ⅷ ٣ ௫",
    "tabs\tand\r\nwindows\r\nlines   \n\n\n  end",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "",
    " ",
    "a  b   c    d",
]


def _bytes_to_unicode() -> Dict[int, str]:
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class ReferenceBpe:
    """Byte-level BPE as llama.cpp runs it for the "smollm" pre-tokenizer."""

    def __init__(self, tokens: Sequence[str], merges: Sequence[str], specials: Sequence[str]):
        self.vocab = {token: index for index, token in enumerate(tokens)}
        self.ranks = {tuple(merge.split(" ")): rank for rank, merge in enumerate(merges)}
        self.byte_chars = _bytes_to_unicode()
        ordered = sorted(specials, key=len, reverse=True)
        self.special_split = regex.compile("(" + "|".join(regex.escape(s) for s in ordered) + ")")
        self.specials = set(specials)

    @staticmethod
    def _split_keep_gaps(pattern, text: str) -> List[str]:
        pieces, last = [], 0
        for match in pattern.finditer(text):
            if match.start() > last:
                pieces.append(text[last:match.start()])
            pieces.append(match.group())
            last = match.end()
        if last < len(text):
            pieces.append(text[last:])
        return pieces

    def _bpe(self, piece: str) -> List[int]:
        word = [self.byte_chars[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            best = min(range(len(word) - 1),
                       key=lambda i: (self.ranks.get((word[i], word[i + 1]), float("inf")), i))
            pair = (word[best], word[best + 1])
            if pair not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == pair:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return [self.vocab[token] for token in word]

    def encode(self, text: str) -> List[int]:
        ids: List[int] = []
        for segment in self.special_split.split(text):
            if not segment:
                continue
            if segment in self.specials:
                ids.append(self.vocab[segment])
                continue
            for part in self._split_keep_gaps(NUMBER_SPLIT, segment):
                for piece in self._split_keep_gaps(GPT2_SPLIT, part):
                    ids.extend(self._bpe(piece))
        return ids
