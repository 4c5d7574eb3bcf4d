"""Fine-tuning filter specs: trainable_spec and freeze_labels with eqx and optax."""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import pytest

import models
import stde


@pytest.fixture
def model(getkey):
    k1, k2 = jax.random.split(getkey())
    return models.Constrained(
        models.Embedded(models.FourierFeatures(3, 2, key=k1), models.MLP(4, 8, 3, key=k2)),
        stde.BallAnsatz(),
    )


def _flags(spec, model):
    # (is the first layer's weight trainable, last layer's weight, Fourier frequencies)
    return (
        (
            spec.net.net.layers[0].weight,
            spec.net.net.layers[-1].weight,
            spec.net.embedding.frequencies,
        )
        if spec is not None
        else None
    )


@pytest.mark.parametrize(
    "which,expected",
    [
        ("all", (True, True, True)),
        ("none", (False, False, False)),
        ("first", (True, False, False)),
        ("last", (False, True, False)),
        ("none-but-last", (False, True, False)),
        ("all-but-first", (False, True, True)),
        ("all-but-last", (True, False, True)),
    ],
)
def test_trainable_spec(model, which, expected):
    spec = models.trainable_spec(model, which)
    assert jax.tree_util.tree_structure(spec) == jax.tree_util.tree_structure(model)
    assert _flags(spec, model) == expected
    labels = models.freeze_labels(model, which)
    names = tuple("train" if e else "freeze" for e in expected)
    assert _flags(labels, model) == names


def test_partition_and_multi_transform_freeze_layers(model, getkey):
    xs = 0.3 * jax.random.normal(getkey(), (8, 3))

    def loss(m):
        return jnp.mean((jax.vmap(m)(xs) - 1.0) ** 2)

    # eqx.partition: gradients only for the last layer.
    spec = models.trainable_spec(model, "last")
    train, frozen = eqx.partition(model, spec)
    grads = eqx.filter_grad(lambda t: loss(eqx.combine(t, frozen)))(train)
    assert grads.net.net.layers[0].weight is None
    assert jnp.linalg.norm(grads.net.net.layers[-1].weight) > 0

    # optax.multi_transform with the labels: frozen parameters do not move.
    params = eqx.filter(model, eqx.is_inexact_array)
    labels = models.freeze_labels(model, "all-but-first")
    opt = optax.multi_transform(
        {"train": optax.adam(1e-2), "freeze": optax.set_to_zero()},
        # A label tree is a (callable) Module; optax would call it, hence the lambda.
        lambda _: labels,
    )
    state = opt.init(params)
    g = eqx.filter_grad(loss)(model)
    updates, state = opt.update(eqx.filter(g, eqx.is_inexact_array), state, params)
    new = eqx.apply_updates(model, updates)
    assert jnp.array_equal(new.net.net.layers[0].weight, model.net.net.layers[0].weight)
    assert not jnp.array_equal(new.net.net.layers[1].weight, model.net.net.layers[1].weight)
    assert not jnp.array_equal(new.net.embedding.frequencies, model.net.embedding.frequencies)
    assert loss(new) < loss(model)


def test_bad_which(model):
    with pytest.raises(ValueError, match="`which` must be one of"):
        models.trainable_spec(model, "middle")
    with pytest.raises(ValueError, match="no `eqx.nn.Linear`"):
        models.trainable_spec(models.PeriodicEmbedding(2, (0,)), "last")


def test_zero_last_zeroes_only_the_output_layer(model, getkey):
    zeroed = models.zero_last(model)
    last = zeroed.net.net.layers[-1]
    assert not jnp.any(last.weight) and not jnp.any(last.bias)
    before, after = (eqx.filter(m, eqx.is_array) for m in (model, zeroed))
    # Every other array is untouched (the first layers, the Fourier frequencies).
    for a, b in zip(
        jax.tree.leaves(before.net.net.layers[:-1]), jax.tree.leaves(after.net.net.layers[:-1])
    ):
        assert jnp.array_equal(a, b)
    assert jnp.array_equal(model.net.embedding.frequencies, zeroed.net.embedding.frequencies)
    # The field is zero, so the ansatz gives its base (zero on the ball).
    x = jax.random.uniform(getkey(), (5, 3), minval=-0.5, maxval=0.5)
    assert jnp.all(jax.vmap(zeroed)(x) == 0)
    with pytest.raises(ValueError, match="no `eqx.nn.Linear` layer"):
        models.zero_last({"w": jnp.ones(3)})


def test_output_bias_is_the_last_layers_bias(model):
    bias = models.output_bias(model)
    assert bias is model.net.net.layers[-1].bias
    moved = eqx.tree_at(models.output_bias, model, bias + 2.0)
    x = jnp.array([0.1, -0.2, 0.3])
    # The ball ansatz multiplies the network by (1 - |x|^2).
    assert jnp.allclose(moved(x) - model(x), 2.0 * (1 - jnp.sum(x**2)), rtol=1e-5)
