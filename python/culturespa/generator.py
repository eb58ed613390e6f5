"""Batched generation, option scoring and continuation scoring (the generator layer).

``Generator``, ``Prefix`` and the result classes are the C++ classes of
``culturespa._core``, re-exported; their docstrings are in the bindings.
See docs/generator.md.
"""
from ._core import ContinuationScore, GenerateResult, Generator, OptionScores, Prefix, testing_tokenizer_write

# The name tests and examples have used for testing_tokenizer_write.
write_test_tokenizer = testing_tokenizer_write

__all__ = ["ContinuationScore", "GenerateResult", "Generator", "OptionScores", "Prefix",
           "testing_tokenizer_write", "write_test_tokenizer"]
