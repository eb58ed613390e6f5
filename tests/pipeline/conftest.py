"""A small random checkpoint with the generator's test tokenizer, shared by
the pipeline tests that run a real Generator."""
import pytest

import culturespa


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    import culturespa.generator
    import culturespa.testing

    folder = tmp_path_factory.mktemp("tiny-model")
    culturespa.testing.write_checkpoint(folder, vocab_size=272, hidden_size=64, intermediate_size=128,
                                        num_hidden_layers=2, max_position_embeddings=4096, seed=3)
    culturespa.generator.write_test_tokenizer(folder)
    return folder
