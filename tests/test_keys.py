"""Key streams: the slice direction, the PDE coefficients (and HJB-LQG's Monte Carlo
reference), the collocation points, the test points and the initial parameters come from
different keys, for every preset.

A stream is its root key and the `fold_in` children it uses (steps, test points, layers):
with JAX's partitionable threefry, `split(k)[i]` is `fold_in(k, i)`, so a root that equals
another stream's root or one of its children is a reuse.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdes
import zoo
from zoo._keys import (
    LABELS,
    SLICE_DIRECTION,
    TRAIN_BIAS_FIT,
    TRAIN_PROTOCOL_INIT,
    label_key,
    label_words,
    seeded_key,
)
from zoo._plots import slice_points
from zoo._trainer import _keys


def _data(key) -> tuple[int, ...]:
    return tuple(int(w) for w in np.asarray(jax.random.key_data(key)).ravel())


def _family(root, n_children: int) -> set:
    """The root and its first `n_children` `fold_in` children, as key-data tuples."""
    return _family_of(_data(root), n_children)


@functools.cache
def _family_of(data: tuple[int, ...], n_children: int) -> frozenset:
    root = jax.random.wrap_key_data(jnp.asarray(data, jnp.uint32), impl="threefry2x32")
    out = {data}
    if n_children:
        kids = jax.vmap(lambda i: jax.random.key_data(jax.random.fold_in(root, i)))(
            jnp.arange(n_children, dtype=jnp.uint32)
        )
        out |= {tuple(int(w) for w in row) for row in np.asarray(kids)}
    return frozenset(out)


def _pde_key(pde):
    """The key the PDE draws from, checked against what the PDE actually drew."""
    key = jax.random.PRNGKey(pde.seed)
    c = getattr(pde, "coefficients", None)
    if c is not None:
        want = jax.random.normal(key, c.shape, jnp.float32).astype(c.dtype)
        np.testing.assert_array_equal(np.asarray(c), np.asarray(want))
    return key


def _streams(name: str, pde_seed: int, seed: int) -> dict:
    """name -> (root, number of fold_in children the stream uses)."""
    preset = zoo.get_preset(name)
    cfg = preset.run_config(preset.default_dim, pde_seed=pde_seed)
    train = cfg.train.replace(seed=seed)
    pde = cfg.pde.build()
    init, data = _keys(train.seed)
    return {
        # Coefficients from the root; HJB-LQG's Monte Carlo reference from child 1.
        "pde": (_pde_key(pde), 2),
        "initialisation": (init, cfg.model.depth + 2),
        "collocation points": (data, train.steps + 1),
        "test points": (jax.random.PRNGKey(train.test_seed), train.n_test),
    }


def _clashes(streams: dict) -> list[str]:
    families = {k: _family(root, n) for k, (root, n) in streams.items()}
    out = []
    for a, (root, _) in streams.items():
        for b in streams:
            if a != b and _data(root) in families[b]:
                out.append(f"{a} root in {b} stream")
    return out


def test_label_keys_are_fixed_and_apart():
    keys = [_data(label_key(label)) for label in LABELS]
    assert len(set(keys)) == len(LABELS)
    assert _data(label_key(SLICE_DIRECTION)) == _data(label_key(SLICE_DIRECTION))
    # sha256("zoo.plots.slice-direction")[:8], little-endian words: a fixed derivation.
    assert label_words(SLICE_DIRECTION) == (718677579, 3236436303)
    for label in LABELS:
        assert label_words(label)[0] not in (0, 1)
    with pytest.raises(ValueError, match="non-empty str"):
        label_key("")


@pytest.mark.parametrize("name", zoo.names())
def test_slice_keys_apart_from_every_stream(name):
    streams = _streams(name, pde_seed=0, seed=0)
    for label in LABELS:
        streams[label] = (label_key(label), 0)
    clashes = [c for c in _clashes(streams) if any(label in c for label in LABELS)]
    assert clashes == []


@pytest.mark.parametrize("pde_seed, seed", [(0, 0), (1, 0), (0, 1)])
@pytest.mark.parametrize("name", zoo.names())
def test_data_streams_apart(name, pde_seed, seed):
    assert _clashes(_streams(name, pde_seed, seed)) == []


def test_bias_fit_points_apart_from_initialisation():
    init, _ = _keys(0)
    layers = 4  # the default 4 linear layers draw from split(init, 4)
    layer_keys = {_data(k) for k in jax.random.split(init, layers)}
    for label in (TRAIN_BIAS_FIT, TRAIN_PROTOCOL_INIT):
        assert _data(seeded_key(label, 0)) not in layer_keys


@pytest.mark.slow  # the first Monte Carlo call compiles its gamma draws eagerly (~5 s)
def test_hjb_reference_draws_from_child_1_of_the_pde_key():
    """What `_streams` assumes of HJB-LQG's Monte Carlo reference."""
    pde = pdes.get("hjb-lqg", dim=4, seed=3)
    x = pde.reference_point
    mc_key = jax.random.fold_in(jax.random.PRNGKey(3), 1)
    np.testing.assert_array_equal(
        np.asarray(pde.monte_carlo(x, num_samples=64)),
        np.asarray(pde.monte_carlo(x, key=mc_key, num_samples=64)),
    )


@pytest.mark.parametrize("pde_seed", [0, 1, 2])
def test_slice_direction_is_not_the_coefficient_direction(pde_seed):
    """The reported bug: with PRNGKey(0) the d = 1000 slice ran along the seed-0
    coefficient vector (cosine 1.0). A random direction has cosine ~ 1/sqrt(d) ~ 0.03."""
    pde = pdes.get("allen-cahn-twobody", dim=1000, seed=pde_seed)
    _, x = slice_points(pde)
    v = np.asarray(x[-1], np.float64)[: pde.coefficients.shape[0]]
    c = np.asarray(pde.coefficients, np.float64)
    cos = abs(v @ c) / (np.linalg.norm(v) * np.linalg.norm(c))
    assert cos < 0.15
    # The old key would fail this: its direction is the coefficient vector itself.
    old = jax.random.normal(jax.random.PRNGKey(pde_seed), (1000,), jnp.float32)
    old = np.asarray(old, np.float64)[: c.shape[0]]
    if pde_seed == 0:
        assert abs(old @ c) / (np.linalg.norm(old) * np.linalg.norm(c)) > 0.99
