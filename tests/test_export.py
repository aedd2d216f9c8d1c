"""The SavedModel export: signatures, metadata, a fresh process without `translator`."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    MAX_SOURCE,
    MAX_TARGET,
    WITHOUT_TRANSLATOR,
    artifacts,  # noqa: F401  (a fixture)
    loaded,
    reverse_pairs,
    run_without_translator,
)

from translator import decoding
from translator.config import DecodeConfig
from translator.export import main as export_main
from translator.runs import RunPaths
from translator.serving import load_exported

INPUTS = ["abc", "hgfe dc", "", "   ", "a" * 5000, "ab€☃ ü", "😀 bad", "\t\n", "ABC"]

FRESH_PROCESS = (
    WITHOUT_TRANSLATOR
    + """
import json
import numpy as np

path, inputs, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
model = tf.saved_model.load(path)
text = tf.constant(inputs)
results = {"serving_default": model.signatures["serving_default"](text=text)}
for name, beam in (("greedy", 1), ("beam", 3)):
    results[name] = model.signatures["translate"](
        text=text, beam_size=tf.constant(beam), length_penalty=tf.constant(0.6),
        max_length=tf.constant(0), n_best=tf.constant(2 if beam > 1 else 1),
        temperature=tf.constant(0.0), top_k=tf.constant(0), seed=tf.constant(0),
    )

def plain(value):
    value = value.numpy()
    if value.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value).tolist()
    return value.tolist()

with open(out, "w", encoding="utf-8") as f:
    json.dump({k: {n: plain(v) for n, v in r.items()} for k, r in results.items()}, f)
"""
)


def in_process(artifacts, strategy: str, beam_size: int = 1, n_best: int = 1):  # noqa: F811
    """Decodes INPUTS with the Keras model and the tokenizer directly."""
    tokenizer, config = artifacts.tokenizer, artifacts.config
    tokens = tokenizer.tokenize(tf.constant(INPUTS))
    ids = tokens[:, :MAX_SOURCE].to_tensor()
    decode_config = DecodeConfig(
        strategy=strategy,
        beam_size=beam_size,
        length_penalty=0.6,
        max_length_a=config.decode.max_length_a,
        max_length_b=config.decode.max_length_b,
    )
    result = decoding.decode(
        artifacts.model, ids, decode_config, max_length=MAX_TARGET + 1, n_best=n_best
    )
    shape = result.ids.shape
    flat = tf.reshape(result.ids, [shape[0] * shape[1], shape[2]])
    texts = tokenizer.detokenize(flat).numpy().reshape(shape[:2])
    return [[t.decode("utf-8") for t in row] for row in texts], result.scores.numpy()


def test_fresh_process_without_translator_matches_in_process_decoding(artifacts, tmp_path):  # noqa: F811
    # Also moved: the export must not depend on where it was written.
    moved = tmp_path / "elsewhere" / "model"
    shutil.copytree(artifacts.export, tmp_path / "copy")
    moved.parent.mkdir()
    shutil.move(tmp_path / "copy", moved)
    results = run_without_translator(FRESH_PROCESS, moved, INPUTS, tmp_path)

    texts, scores = in_process(artifacts, "greedy")
    assert results["greedy"]["translations"] == texts
    np.testing.assert_allclose(results["greedy"]["scores"], scores, rtol=1e-4, atol=1e-4)
    assert results["serving_default"]["translations"] == [row[0] for row in texts]  # greedy

    texts, scores = in_process(artifacts, "beam", beam_size=3, n_best=2)
    assert results["beam"]["translations"] == texts
    np.testing.assert_allclose(results["beam"]["scores"], scores, rtol=1e-4, atol=1e-4)


def test_export_reverses_most_of_its_training_words(artifacts):  # noqa: F811
    # The tiny model learned "reverse the letters" on reverse_pairs(192).  Measured
    # there, trained with a bfloat16 output layer: greedy 71 exact (37.0 %), beam-3 77
    # (40.1 %; 74 and 78 in float32); the first letter (the input's last) right for
    # 182 (94.8 %) both ways.  The thresholds sit a bit below.
    pairs = reverse_pairs(192)
    sources, wanted = [s for s, _ in pairs], [t for _, t in pairs]
    for beam_size, min_exact in ((1, 0.33), (3, 0.35)):
        out = loaded(artifacts.export).translate(sources, beam_size=beam_size)
        out = out["translations"][:, 0].tolist()
        assert np.mean([o == t for o, t in zip(out, wanted)]) >= min_exact
        assert np.mean([o[:1] == t[:1] for o, t in zip(out, wanted)]) >= 0.9


def test_edge_inputs_give_defined_outputs(artifacts):  # noqa: F811
    translator = loaded(artifacts.export)
    for options in (
        {"beam_size": 1},
        {"beam_size": 3, "n_best": 2},
        {"temperature": 0.8, "n_best": 2, "seed": 3},
    ):
        out = translator.translate(INPUTS, **options)
        batch, n = out["translations"].shape
        steps = out["target_pieces"].shape[2]
        width = out["source_pieces"].shape[1]
        assert batch == len(INPUTS)
        assert n == options.get("n_best", 1)
        assert out["attention"].shape == (batch, n, steps, width)
        assert out["truncated"].tolist() == [i == 4 for i in range(len(INPUTS))]
        assert out["source_lengths"].max() == MAX_SOURCE == width
        for i in (2, 3, 7):  # empty and whitespace-only: an empty translation
            assert out["translations"][i, 0] == ""
            assert out["scores"][i, 0] == 0.0
            assert out["target_lengths"][i, 0] == 0
            assert out["source_lengths"][i] == 0
        assert (out["target_lengths"] <= MAX_TARGET + 1).all()
        for b in range(batch):
            s_len = out["source_lengths"][b]
            assert all(p for p in out["source_pieces"][b, :s_len])
            assert not any(out["source_pieces"][b, s_len:])
            for k in range(n):
                t_len = out["target_lengths"][b, k]
                weights = out["attention"][b, k]
                assert not any(out["target_pieces"][b, k, t_len:])
                assert (weights[t_len:] == 0).all() and (weights[:, s_len:] == 0).all()
                if s_len:  # Luong attention: each target step's weights sum to 1
                    np.testing.assert_allclose(weights[:t_len].sum(-1), 1.0, rtol=1e-4)
        assert "<unk>" in out["source_pieces"][6]  # the emoji is not in the vocabulary

    sampled = translator.translate(["abc", "dcba"], temperature=1.5, n_best=3, seed=9)
    again = translator.translate(["abc", "dcba"], temperature=1.5, n_best=3, seed=9)
    assert (sampled["translations"] == again["translations"]).all()
    assert translator(["abc"]) == [translator.translate(["abc"])["translations"][0, 0]]
    assert translator.translate([])["translations"].shape[0] == 0
    out = translator.translate(["abc", "ab\ud800c"])  # a lone surrogate has no UTF-8 form
    assert out["replaced"].tolist() == [False, True]  # kept, with U+FFFD in its place
    assert out["translations"][1, 0] == translator(["ab\ufffdc"])[0]


def test_signatures_and_metadata(artifacts):  # noqa: F811
    translator = loaded(artifacts.export)
    serve = translator.module.signatures["serving_default"]
    args, kwargs = serve.structured_input_signature
    assert not args and list(kwargs) == ["text"]
    assert kwargs["text"].dtype == tf.string and kwargs["text"].shape.as_list() == [None]
    assert set(serve.structured_outputs) == {"translations", "scores"}
    translate = translator.module.signatures["translate"]
    assert set(translate.structured_input_signature[1]) == {
        "text",
        "beam_size",
        "length_penalty",
        "max_length",
        "n_best",
        "temperature",
        "top_k",
        "seed",
    }
    assert (artifacts.export / "assets" / "metadata.json").is_file()

    meta = translator.metadata
    assert meta["task"] == "translation"
    assert meta["model"]["decoder"] == "luong" and meta["model"]["cell"] == "gru"
    assert meta["model"]["bidirectional"] is True and meta["model"]["units"] == 32
    assert meta["vocab_sizes"]["source"] == artifacts.tokenizer.vocab_size
    assert meta["tokenizers"]["joint"] is True
    assert meta["max_source_length"] == MAX_SOURCE
    assert meta["evaluation"]["test"]["bleu"] == 42.0
    assert meta["training"]["epochs"] == 8
    assert meta["training_data"]["corpus"] == "dates"
    assert meta["checkpoint"] == "best.keras"
    for package in ("tensorflow", "tensorflow-text", "keras", "translator"):
        assert meta["versions"][package]
    assert translator.decode_defaults == artifacts.config.decode


def test_export_cli_errors(artifacts, tmp_path, capsys):  # noqa: F811
    assert export_main(["--run", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert export_main(["--run", str(artifacts.run), "--out", str(artifacts.export)]) == 2
    assert "--force" in capsys.readouterr().err
    incomplete = tmp_path / "run"
    incomplete.mkdir()
    RunPaths(incomplete).config.write_text(artifacts.config.to_yaml())
    assert export_main(["--run", str(incomplete), "--out", str(tmp_path / "y")]) == 2
    assert "tokenizers is missing" in capsys.readouterr().err


def test_load_exported_reports_a_missing_export(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"translator\.export"):
        load_exported(tmp_path)
