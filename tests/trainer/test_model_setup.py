"""New-token embeddings start at the mean of their sub-tokens; big matrices are not shrunk."""

from __future__ import annotations

import torch

from reflectseq.format import SPECIAL_TOKENS
from tests.trainer.tiny import make_tokenizer
from trainer.model_setup import prepare
from trainer.tiny_model import TinyModelConfig, build_model


def test_new_tokens_get_the_mean_of_their_sub_token_embeddings() -> None:
    tokenizer = make_tokenizer()
    model = build_model(TinyModelConfig(max_position_embeddings=512), len(tokenizer))
    before_in = model.get_input_embeddings().weight.detach().clone()
    before_out = model.get_output_embeddings().weight.detach().clone()
    pieces = {t: tokenizer(t, add_special_tokens=False)["input_ids"] for t in SPECIAL_TOKENS}

    prepare(model, tokenizer)

    weight_in = model.get_input_embeddings().weight
    weight_out = model.get_output_embeddings().weight
    assert weight_in.shape[0] == len(tokenizer) == len(before_in) + 7
    for token, ids in pieces.items():
        assert len(ids) > 1
        new_id = tokenizer.convert_tokens_to_ids(token)
        torch.testing.assert_close(weight_in[new_id], before_in[ids].mean(0))
        torch.testing.assert_close(weight_out[new_id], before_out[ids].mean(0))
    torch.testing.assert_close(weight_in[: len(before_in)], before_in)


def test_larger_embedding_matrices_are_not_shrunk() -> None:
    tokenizer = make_tokenizer()
    model = build_model(TinyModelConfig(max_position_embeddings=512), 512)
    before = model.get_input_embeddings().weight.detach().clone()
    prepare(model, tokenizer)
    weight = model.get_input_embeddings().weight
    assert weight.shape[0] == 512 > len(tokenizer)
    code_id = tokenizer.convert_tokens_to_ids("<|code|>")
    ids = tokenizer("<|code|>", add_special_tokens=False, split_special_tokens=True)["input_ids"]
    torch.testing.assert_close(weight[code_id], before[ids].mean(0))
    assert tokenizer.pad_token == tokenizer.eos_token
