"""The one inference path (translator.inference): strings -> ids -> decoding -> strings,
and the one mapping of decode settings, on the tiny reversal model of ``helpers``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from helpers import MAX_SOURCE, MAX_TARGET, artifacts, reverse_pairs  # noqa: F401

from translator.config import DecodeConfig
from translator.inference import (
    Inference,
    encode_sources,
    resolve_decode,
    signature_inputs,
    strategy_index,
)
from translator.tokenizer import CharTokenizer

BEAM = DecodeConfig(strategy="beam", beam_size=4, length_penalty=0.6, temperature=0.7, top_k=3)


@pytest.mark.parametrize(
    "choices, expected",
    [
        ({}, ("beam", 4)),
        ({"beam_size": 1}, ("greedy", 4)),
        ({"beam_size": 6}, ("beam", 6)),
        ({"temperature": 0.5}, ("sample", 4)),
        ({"temperature": 0.0}, ("beam", 4)),
        ({"strategy": "sample", "beam_size": 9}, ("sample", 9)),
        ({"strategy": "greedy"}, ("greedy", 4)),
    ],
)
def test_resolve_decode_picks_the_strategy(choices, expected) -> None:
    resolved = resolve_decode(BEAM, **choices)
    assert (resolved.strategy, resolved.beam_size) == expected
    assert resolved.max_length_a == BEAM.max_length_a  # the rest is the default's


def test_resolve_decode_rejects_unknown_strategies_and_keeps_sampling_defaults() -> None:
    with pytest.raises(ValueError, match="sampling"):
        resolve_decode(BEAM, strategy="sampling")
    sample = DecodeConfig(strategy="sample", temperature=0.8)
    assert resolve_decode(sample).strategy == "sample"
    assert resolve_decode(sample, temperature=0.0).strategy == "greedy"
    assert resolve_decode(sample, temperature=0.0, beam_size=3).strategy == "beam"


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_signature_inputs_and_strategy_index_are_inverse(strategy: str) -> None:
    settings = dataclasses.replace(BEAM, strategy=strategy)
    inputs = signature_inputs(settings, n_best=3, seed=5, max_length=7)
    index = strategy_index(tf.constant(inputs["beam_size"]), tf.constant(inputs["temperature"]))
    assert ("greedy", "beam", "sample")[int(index)] == strategy
    assert inputs["n_best"] == (1 if strategy == "greedy" else 3)
    assert (inputs["seed"], inputs["max_length"], inputs["top_k"]) == (5, 7, 3)


def test_encode_sources_truncates_and_runs_in_a_graph() -> None:
    tokenizer = CharTokenizer.train(["abcdefgh "], 64)
    strings = ["abcdefghabcdefgh", "ab", ""]
    ids, lengths, truncated = encode_sources(strings, tokenizer, max_length=6)
    full = tokenizer.tokenize(strings).to_list()
    assert ids.dtype == tf.int32 and lengths.dtype == tf.int32 and truncated.dtype == tf.bool
    assert ids.shape == (3, 6)
    assert lengths.numpy().tolist() == [6, 2, 0]
    assert truncated.numpy().tolist() == [True, False, False]
    assert [row[:n] for row, n in zip(ids.numpy().tolist(), [6, 2, 0])] == [r[:6] for r in full]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def in_graph(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return encode_sources(batch, tokenizer, 6)

    graph_ids, graph_lengths, _ = in_graph(tf.constant(strings))
    np.testing.assert_array_equal(graph_ids.numpy(), ids.numpy())
    np.testing.assert_array_equal(graph_lengths.numpy(), lengths.numpy())


def test_translate_reverses_unseen_words_in_input_order(artifacts) -> None:  # noqa: F811
    inference = Inference.from_config(
        artifacts.model, artifacts.tokenizer, artifacts.tokenizer, artifacts.config
    )
    assert (inference.max_source_length, inference.default_cap) == (MAX_SOURCE, MAX_TARGET + 1)
    pairs = reverse_pairs(60, seed=99)  # not the training seed
    sources = [source for source, _ in pairs]
    done: list[int] = []
    outputs = inference.translate(sources, batch_size=16, progress=done.append)
    assert sum(done) == len(sources) and len(done) == 4
    correct = sum(out == target for out, (_, target) in zip(outputs, pairs))
    # The session's tiny model (8 epochs on 192 strings) reverses 14 of these 60 unseen
    # strings exactly (measured); a broken path or outputs in the wrong order give ~0.
    assert correct >= 10, (correct, list(zip(sources, outputs))[:5])
    beam = inference.translate(sources, resolve_decode(inference.decode_config, beam_size=3))
    assert sum(out == target for out, (_, target) in zip(beam, pairs)) >= 10
    assert inference.translate([]) == []
    assert inference.translate([""]) == [""]
