"""sentencepiece from Python, in a process that also runs LibTorch."""
import pytest
import torch

import culturespa

pytestmark = pytest.mark.skipif(not culturespa.sentencepiece_available(),
                                reason="built with CULTURESPA_SENTENCEPIECE=off")


def test_train_encode_decode_beside_torch():
    assert float((torch.ones(3, 3) @ torch.ones(3, 3)).sum()) == 27.0
    sentences = ["How important is family in your life?",
                 "Would you say that most people can be trusted?"] * 30
    model = culturespa.SentencePieceModel.from_serialized(
        culturespa.sentencepiece_train(sentences, vocab_size=50))
    assert model.piece_count == 50
    text = "most people trust family"
    assert model.decode(model.encode(text)) == text


def test_llama2_tokenizer_model_matches_python_sentencepiece(shared_dir):
    spm = pytest.importorskip("sentencepiece")
    path = shared_dir / "fixtures/tokenizers/llama2/tokenizer.model"
    ours = culturespa.SentencePieceModel.load(str(path))
    theirs = spm.SentencePieceProcessor(model_file=str(path))
    for text in ["Hello world", "How important is family in your life?", "Ünïcödé 3 ½"]:
        assert ours.encode(text) == theirs.encode(text)


def test_corrupt_model_is_a_value_error():
    with pytest.raises(ValueError, match="sentencepiece"):
        culturespa.SentencePieceModel.from_serialized(b"not a model")
