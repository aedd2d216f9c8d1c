"""A shared test for Keras layers, after KerasHub's ``TestCase.run_layer_test``.

:func:`run_layer_test` puts one layer (or model) through everything a Keras layer of
this package must support:

1. an eager call on the example inputs (finite float outputs of the expected shapes),
   of a class registered with ``keras.saving.register_keras_serializable``;
2. ``get_config()`` holds every constructor argument (with the value passed, where
   one was) and is JSON-serializable; ``from_config`` rebuilds a layer with the same
   config and, once the weights are copied, the same outputs; ``build_from_config``
   (what ``.keras`` loading does for a nested layer) creates the weights a call does;
3. a symbolic call: ``keras.Input`` -> layer -> ``keras.Model`` gives the eager outputs;
4. a ``.keras`` round trip (``save`` to ``tmp_path`` then ``keras.saving.load_model``
   of that functional model, or of the model itself for a ``keras.Model``) with
   outputs equal to ``atol``;
5. one training step: gradients of a fixed random projection of the outputs are
   finite and non-zero for every trainable weight, and one SGD step lowers that loss.

Inputs are positional ``args`` and keyword ``kwargs``, any nesting of lists, tuples
and dicts of arrays; each array becomes one ``keras.Input`` of the functional model.
"""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import tree

# Constructor parameters that are not layer settings.
_BASE_PARAMS = {"self", "args", "kwargs"}


def _inputs_like(data: Any) -> Any:
    """A ``keras.Input`` for every array of ``data`` (batch dimension left free)."""

    def make(x: Any) -> Any:
        x = np.asarray(x)
        return keras.Input(shape=x.shape[1:], dtype=str(x.dtype))

    return tree.map_structure(make, data)


_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _float_outputs(outputs: Any) -> list[Any]:
    return [o for o in tree.flatten(outputs) if keras.backend.standardize_dtype(o.dtype) in _FLOATS]


def _assert_outputs_close(actual: Any, expected: Any, atol: float, what: str) -> None:
    actual, expected = tree.flatten(actual), tree.flatten(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, not {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(
            np.asarray(a), np.asarray(e), atol=atol, rtol=0, err_msg=f"{what}: output {i}"
        )


def _call(layer: Any, args: tuple, kwargs: dict, training: bool | None = None) -> Any:
    accepts = "training" in inspect.signature(layer.call).parameters
    extra = {"training": training} if training is not None and accepts else {}
    return layer(*args, **kwargs, **extra)


def check_config_has_constructor_args(layer: Any, init_kwargs: dict[str, Any]) -> None:
    """Every ``__init__`` parameter of the layer's class is a ``get_config`` key, and the
    values passed in ``init_kwargs`` come back (layers and other objects: by key only)."""
    config = layer.get_config()
    params = inspect.signature(type(layer).__init__).parameters
    missing = [
        name
        for name, p in params.items()
        if name not in _BASE_PARAMS
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and name not in config
    ]
    assert not missing, f"{type(layer).__name__}.get_config() lacks {missing}"
    for name, value in init_kwargs.items():
        if isinstance(value, bool | int | float | str | type(None)):
            assert config[name] == value, f"get_config()[{name!r}]: {config[name]!r} != {value!r}"
    json.dumps(keras.saving.serialize_keras_object(layer))  # a .keras file needs JSON


def run_layer_test(
    layer: type | keras.layers.Layer,
    *,
    args: tuple = (),
    kwargs: dict[str, Any] | None = None,
    init_kwargs: dict[str, Any] | None = None,
    tmp_path: Path,
    expected_output_shape: Any = None,
    run_training: bool = True,
    not_trained_by_call: tuple[str, ...] = (),
    atol: float = 1e-6,
) -> Any:
    """Runs the checks of the module docstring; returns the eager outputs.

    Args:
        layer: a layer class (built with ``init_kwargs``) or an instance (then
            ``init_kwargs``, when given, are the values its config must report).
        args, kwargs: the call's inputs (arrays, nested in lists, tuples, dicts).
        tmp_path: where the ``.keras`` files go.
        expected_output_shape: nested like the outputs; ``None`` dims match anything.
        run_training: whether to run the training step (off for layers without
            trainable weights).
        not_trained_by_call: substrings of weight paths that ``call`` does not use
            (e.g. a decoder's attention key projection, applied by ``initial_state``);
            the training step checks that they indeed get no gradient.
        atol: tolerance of every output comparison.
    """
    kwargs = dict(kwargs or {})
    init_kwargs = dict(init_kwargs or {})
    if isinstance(layer, type):
        layer = layer(**init_kwargs)
    args = tree.map_structure(np.asarray, tuple(args))
    kwargs = tree.map_structure(np.asarray, kwargs)
    name = type(layer).__name__

    # 1. eager call
    eager = _call(layer, args, kwargs)
    for i, out in enumerate(_float_outputs(eager)):
        assert np.isfinite(np.asarray(out)).all(), f"{name}: eager output {i} is not finite"
    if expected_output_shape is not None:
        shapes = [tuple(o.shape) for o in tree.flatten(eager)]
        expected = _shape_leaves(expected_output_shape)
        assert len(shapes) == len(expected), f"{name}: outputs {shapes}, expected {expected}"
        for got, want in zip(shapes, expected):
            matches = len(got) == len(want) and all(w in (None, g) for g, w in zip(got, want))
            assert matches, f"{name}: output shape {got}, expected {want}"
    if type(layer).__module__.startswith("translator."):
        registered = keras.saving.get_registered_name(type(layer))
        assert keras.saving.get_registered_object(registered) is type(layer), (
            f"{name} is not registered with keras.saving.register_keras_serializable"
        )

    # 2. config
    check_config_has_constructor_args(layer, init_kwargs)
    config = layer.get_config()
    revived = type(layer).from_config(copy.deepcopy(config))  # Keras' RNN pops its "cell"
    assert revived.get_config() == config, f"{name}: from_config changed the config"
    # What .keras loading does for a layer nested in another: build from the build
    # config, then load weights; so build() must create every weight a call does.
    built = type(layer).from_config(copy.deepcopy(config))
    built.build_from_config(layer.get_build_config())
    assert sorted(_weight_shapes(built)) == sorted(_weight_shapes(layer)), (
        f"{name}: build() makes other weights than a call"
    )
    _call(revived, args, kwargs)  # builds it
    revived.set_weights(layer.get_weights())
    _assert_outputs_close(_call(revived, args, kwargs), eager, atol, f"{name} from_config")

    # 3. symbolic call in a functional model
    sym_args, sym_kwargs = _inputs_like(args), _inputs_like(kwargs)
    functional = keras.Model(
        inputs=tree.flatten((sym_args, sym_kwargs)),
        outputs=_call(layer, sym_args, sym_kwargs),
    )
    flat_inputs = tree.flatten((args, kwargs))
    _assert_outputs_close(functional(flat_inputs), eager, atol, f"{name} symbolic call")

    # 4. .keras round trip (before training changes the weights)
    path = tmp_path / f"{name}.keras"
    if isinstance(layer, keras.Model):  # a model saves itself
        layer.save(path)
        loaded = keras.saving.load_model(path)
        assert type(loaded) is type(layer)
        _assert_outputs_close(_call(loaded, args, kwargs), eager, atol, f"{name} .keras")
    else:
        functional.save(path)
        loaded = keras.saving.load_model(path)
        _assert_outputs_close(loaded(flat_inputs), eager, atol, f"{name} .keras (functional)")

    # 5. one training step
    if run_training:
        _training_step(layer, args, kwargs, not_trained_by_call)
    return eager


def _weight_shapes(layer: Any) -> list[tuple[str, tuple]]:
    return [(w.name, tuple(w.shape)) for w in layer.weights]


def _shape_leaves(structure: Any) -> list[Any]:
    """The shape tuples of a nested structure of shapes (tuples of ints / None)."""
    if isinstance(structure, tuple) and all(d is None or isinstance(d, int) for d in structure):
        return [structure]
    if isinstance(structure, dict):
        structure = [structure[k] for k in sorted(structure)]
    return [leaf for item in structure for leaf in _shape_leaves(item)]


def _training_step(layer: Any, args: tuple, kwargs: dict, unused: tuple[str, ...]) -> None:
    name = type(layer).__name__
    weights = layer.trainable_weights
    assert weights, f"{name} has no trainable weights to train"
    projections = None

    def loss_fn() -> Any:
        nonlocal projections
        outputs = _float_outputs(_call(layer, args, kwargs, training=True))
        if projections is None:
            rng = np.random.default_rng(0)
            projections = [rng.normal(size=o.shape).astype("float32") for o in outputs]
        loss = sum(tf.reduce_sum(tf.cast(o, "float32") * p) for o, p in zip(outputs, projections))
        return loss + sum(layer.losses) if layer.losses else loss

    with tf.GradientTape() as tape:
        before = loss_fn()
    grads = tape.gradient(before, weights)
    for w, g in zip(weights, grads):
        if any(part in w.path for part in unused):
            assert g is None or not np.asarray(tf.convert_to_tensor(g)).any(), w.path
            continue
        assert g is not None, f"{name}: no gradient reaches {w.path}"
        g = np.asarray(tf.convert_to_tensor(g))
        assert np.isfinite(g).all(), f"{name}: gradient of {w.path} is not finite"
        assert np.abs(g).max() > 0, f"{name}: gradient of {w.path} is zero"
    used = [(g, w) for g, w in zip(grads, weights) if g is not None]
    keras.optimizers.SGD(learning_rate=1e-3).apply(*zip(*used))
    after = loss_fn()
    assert float(after) < float(before), f"{name}: an SGD step did not lower the loss"
