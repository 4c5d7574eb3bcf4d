"""Stochastic estimators are unbiased: the mean over many fixed keys is within 4 standard
errors of the exact value."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import stde

D = 6
N_KEYS = 2000


def _field():
    key = jax.random.PRNGKey(42)
    k1, k2 = jax.random.split(key)
    w1 = jax.random.normal(k1, (8, D)) / jnp.sqrt(D)
    w2 = jax.random.normal(k2, (8,))
    return lambda x: w2 @ jnp.tanh(w1 @ x + 0.3) + jnp.sum(jnp.sin(x) * x**3)


CASES = [
    ("sparse-laplacian", stde.Laplacian(), stde.SparseSTDE(3)),
    ("sparse-diag3", stde.DiagonalDerivative(3), stde.SparseSTDE(2)),
    ("sparse-diag4", stde.DiagonalDerivative(4), stde.SparseSTDE(2)),
    (
        "sparse-weighted",
        stde.DiagonalDerivative(2, weights=lambda x: x**2 + 0.5),
        stde.SparseSTDE(2),
    ),
    ("sparse-biharmonic", stde.Biharmonic(), stde.SparseSTDE(2)),
    ("sparse-combination", stde.Laplacian() + 3.0 * stde.Partial((0, 1)), stde.SparseSTDE(2)),
    ("dense-rademacher-laplacian", stde.Laplacian(), stde.DenseSTDE(2, "rademacher")),
    ("dense-gaussian-laplacian", stde.Laplacian(), stde.DenseSTDE(2, "gaussian")),
    (
        "dense-weighted",
        stde.DiagonalDerivative(2, weights=jnp.arange(1.0, D + 1)),
        stde.DenseSTDE(2, "rademacher"),
    ),
    ("dense-gaussian-biharmonic", stde.Biharmonic(), stde.DenseSTDE(2, "gaussian")),
    ("sparse-spatial-laplacian", stde.Laplacian(dims=D - 1), stde.SparseSTDE(2)),
]


@pytest.mark.parametrize("name,op,estimator", CASES, ids=[c[0] for c in CASES])
def test_unbiased(name, op, estimator):
    fn = _field()
    x = jnp.linspace(-0.5, 0.6, D)
    exact = jax.jit(lambda x: stde.estimate(op, fn, x))(x)
    keys = jax.random.split(jax.random.PRNGKey(0), N_KEYS)
    samples = jax.jit(jax.vmap(lambda k: stde.estimate(op, fn, x, estimator=estimator, key=k)))(
        keys
    )
    mean, sem = jnp.mean(samples), jnp.std(samples) / jnp.sqrt(N_KEYS)
    assert jnp.std(samples) > 1e-6, "the estimator should be random"
    assert abs(mean - exact) < 4 * sem, (float(mean), float(exact), float(sem))


def test_sparse_with_all_coordinates_drawn_is_nearly_exact():
    # With many samples the sparse estimate concentrates on the exact value.
    fn = _field()
    x = jnp.linspace(-0.5, 0.6, D)
    est = jax.jit(
        lambda x: stde.estimate(
            stde.Laplacian(), fn, x, estimator=stde.SparseSTDE(20000), key=jax.random.PRNGKey(1)
        )
    )(x)
    exact = jax.jit(lambda x: stde.estimate(stde.Laplacian(), fn, x))(x)
    np.testing.assert_allclose(est, exact, rtol=0.05)


def test_same_key_same_estimate():
    fn = _field()
    x = jnp.linspace(-0.5, 0.6, D)
    k = jax.random.PRNGKey(3)
    a = stde.estimate(stde.Laplacian(), fn, x, estimator=stde.SparseSTDE(2), key=k)
    b = stde.estimate(stde.Laplacian(), fn, x, estimator=stde.SparseSTDE(2), key=k)
    assert a == b
