import numpy as np
import pytest

from translator.attention import ATTENTIONS, get_attention, masked_softmax


def _inputs(batch=2, src=5, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(batch, src, dim)).astype("float32")
    mask = np.array([[True] * src, [True] * (src - 2) + [False] * 2])
    return values, mask


@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_shapes_and_zero_weight_on_padding(kind):
    values, mask = _inputs()
    layer = get_attention(kind, units=6)
    query = np.ones((2, 8), "float32")
    context, weights = layer(query, values, mask)
    assert context.shape == (2, 8) and weights.shape == (2, 5)
    w = weights.numpy()
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
    assert (w[1, 3:] == 0.0).all()  # exactly zero, not just small

    # all decoder steps at once gives the same as one step at a time
    queries = np.random.default_rng(1).normal(size=(2, 3, 8)).astype("float32")
    ctx_all, w_all = layer(queries, values, mask)
    assert ctx_all.shape == (2, 3, 8) and w_all.shape == (2, 3, 5)
    for t in range(3):
        ctx_t, w_t = layer(queries[:, t], values, mask)
        np.testing.assert_allclose(ctx_all[:, t], ctx_t, atol=1e-6)
        np.testing.assert_allclose(w_all[:, t], w_t, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_padding_content_does_not_matter(kind):
    values, mask = _inputs()
    layer = get_attention(kind, units=6)
    query = np.ones((2, 8), "float32")
    context, _ = layer(query, values, mask)
    noisy = values.copy()
    noisy[1, 3:] = 1e3
    context2, _ = layer(query, noisy, mask)
    np.testing.assert_allclose(context, context2, atol=1e-6)


def test_precomputed_keys_are_used():
    values, mask = _inputs()
    layer = get_attention("bahdanau", units=6)
    query = np.ones((2, 8), "float32")
    c1, w1 = layer(query, values, mask)
    c2, w2 = layer(query, values, mask, keys=layer.precompute(values))
    np.testing.assert_allclose(w1, w2, atol=1e-6)
    np.testing.assert_allclose(c1, c2, atol=1e-6)


def test_additive_has_learned_projections_and_matches_formula():
    values, mask = _inputs()
    layer = get_attention("bahdanau", units=6)
    query = np.random.default_rng(2).normal(size=(2, 8)).astype("float32")
    _, weights = layer(query, values, mask)
    wq = layer.query_projection.kernel.numpy()
    wk, bk = layer.key_projection.kernel.numpy(), layer.key_projection.bias.numpy()
    v = layer.v.numpy()
    scores = np.tanh((query @ wq)[:, None, :] + values @ wk + bk) @ v
    scores = np.where(mask, scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, atol=1e-5)


def test_general_matches_formula():
    values, mask = _inputs()
    layer = get_attention("general", units=6)
    query = np.random.default_rng(3).normal(size=(2, 8)).astype("float32")
    _, weights = layer(query, values, mask)
    w = layer.key_projection.kernel.numpy()
    scores = np.einsum("bd,bsd->bs", query, values @ w)
    scores = np.where(mask, scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    np.testing.assert_allclose(weights, expected / expected.sum(-1, keepdims=True), atol=1e-5)


def test_coverage_changes_scores_only_when_enabled():
    values, mask = _inputs()
    query = np.ones((2, 8), "float32")
    coverage = np.linspace(0, 1, 10, dtype="float32").reshape(2, 5)
    layer = get_attention("bahdanau", units=6, use_coverage=True)
    layer(query, values, mask, coverage=coverage)
    layer.coverage_weight.assign(np.ones(6, "float32"))
    _, w_cov = layer(query, values, mask, coverage=coverage)
    _, w_none = layer(query, values, mask, coverage=np.zeros_like(coverage))
    assert not np.allclose(w_cov, w_none)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_all_masked_row_gives_zero_weights(dtype):
    # float16 (mixed precision) too: its fill must stay finite, or the row is NaN.
    scores = np.array([[[1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0]]], dtype)
    weights = masked_softmax(scores, np.array([[True, True, False], [False, False, False]]))
    weights = np.asarray(weights, "float32")
    assert (weights[1] == 0).all() and weights[0, 0, 2] == 0
    np.testing.assert_allclose(weights[0].sum(), 1.0, rtol=1e-3)


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="general"):
        get_attention("nope", units=4)


def test_dot_needs_equal_sizes():
    layer = get_attention("dot", units=4)
    with pytest.raises(ValueError, match="equal"):
        layer(np.ones((1, 4), "float32"), np.ones((1, 3, 6), "float32"))


@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_config_round_trip(kind):
    layer = get_attention(kind, units=6, use_coverage=True)
    clone = type(layer).from_config(layer.get_config())
    assert clone.units == 6 and clone.use_coverage
