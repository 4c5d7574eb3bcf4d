"""OperatorLayer: equals stde.estimate, composes, vmaps, lives inside user Modules."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import models
import stde


@pytest.fixture
def u(getkey):
    return models.Constrained(models.MLP(3, 16, 2, key=getkey()), stde.BallAnsatz())


jit = eqx.filter_jit


@jit
def _lap_ref(u, x):
    return jnp.trace(jax.hessian(u)(x))


@jit
def _d2_ref(u, x):
    # u_{x_2}: the first derivative in coordinate 2, by reverse mode.
    return jax.grad(u)(x)[2]


@jit
def _mixed_ref(u, x):
    # u_{x_0 x_0 x_1} by nested AD.
    return jax.jacfwd(jax.jacfwd(jax.grad(u)))(x)[0, 0, 1]


def test_matches_estimate(u, getkey):
    x = 0.3 * jax.random.normal(getkey(), (3,))
    key = getkey()
    for est in (stde.SparseSTDE(2), stde.DenseSTDE(4)):
        layer = models.OperatorLayer(stde.Laplacian(), est)
        both = jit(
            lambda u, x, key, layer=layer, est=est: (
                layer(u, x, key=key),
                stde.estimate(stde.Laplacian(), u, x, estimator=est, key=key),
            )
        )
        mine, direct = both(u, x, key)
        assert jnp.allclose(mine, direct, rtol=1e-12)
    exact = models.OperatorLayer(stde.Laplacian())
    ev = jit(lambda u, x: exact.evaluate(u, x, gradient=True))(u, x)
    assert jnp.allclose(ev.value, u(x), rtol=1e-14)
    assert jnp.allclose(ev.estimate, _lap_ref(u, x), rtol=1e-10)
    assert jnp.allclose(ev.gradient, jax.grad(u)(x), rtol=1e-12)


def test_composition(u, getkey):
    x = 0.3 * jax.random.normal(getkey(), (3,))
    lap = models.OperatorLayer(stde.Laplacian())
    d2 = models.OperatorLayer(stde.Partial((2,)))
    mixed = models.OperatorLayer(stde.Partial((0, 0, 1)))
    combo = lap + 0.5 * d2 - mixed * 2.0
    # Same estimator: one layer of the summed operator.
    assert isinstance(combo, models.OperatorLayer)
    ref = _lap_ref(u, x) + 0.5 * _d2_ref(u, x) - 2.0 * _mixed_ref(u, x)
    both = jit(lambda u, x: jnp.stack([combo(u, x), (-combo)(u, x)]))(u, x)
    assert jnp.allclose(both, jnp.stack([ref, -ref]), rtol=1e-9)


def test_sum_of_different_estimators(u, getkey):
    x = 0.3 * jax.random.normal(getkey(), (3,))
    sparse = models.OperatorLayer(stde.Laplacian(), stde.SparseSTDE(2))
    exact = models.OperatorLayer(stde.Partial((2,)))
    total = 3.0 * (sparse + exact)
    assert isinstance(total, models.SumLayer) and len(total.layers) == 2
    key = getkey()

    @jit
    def run(u, x, key):
        k1, k2 = jax.random.split(key)
        expected = 3.0 * (sparse(u, x, key=k1) + exact(u, x, key=k2))
        return expected, total(u, x, key=key), total.evaluate(u, x, key=key)

    expected, value, ev = run(u, x, key)
    assert jnp.allclose(value, expected, rtol=1e-12)
    assert jnp.allclose(ev.estimate, expected, rtol=1e-12)
    assert jnp.allclose(ev.value, u(x), rtol=1e-14)


@pytest.mark.slow
def test_sum_of_different_estimators_is_unbiased(u, getkey):
    x = 0.3 * jax.random.normal(getkey(), (3,))
    sparse = models.OperatorLayer(stde.Laplacian(), stde.SparseSTDE(2))
    exact = models.OperatorLayer(stde.Partial((2,)))
    total = 3.0 * (sparse + exact)
    # The mean over keys approaches the exact value (fixed seed: deterministic).
    keys = jax.random.split(getkey(), 4000)
    samples = eqx.filter_jit(jax.vmap(lambda k: total(u, x, key=k)))(keys)
    exact_total = 3.0 * (_lap_ref(u, x) + _d2_ref(u, x))
    stderr = jnp.std(samples) / jnp.sqrt(samples.shape[0])
    assert jnp.abs(jnp.mean(samples) - exact_total) < 4 * stderr + 1e-12
    assert stderr > 0


def test_vmap_and_jit_over_points(u, getkey):
    xs = 0.3 * jax.random.normal(getkey(), (6, 3))
    keys = jax.random.split(getkey(), 6)
    layer = models.OperatorLayer(stde.Laplacian(), stde.SparseSTDE(2))
    batched = eqx.filter_jit(jax.vmap(lambda x, k: layer(u, x, key=k)))(xs, keys)
    one_by_one = jnp.stack([jit(layer)(u, x, key=k) for x, k in zip(xs, keys, strict=True)])
    assert batched.shape == (6,)
    assert jnp.allclose(batched, one_by_one, rtol=1e-12)


class Corrected(eqx.Module):
    """A user's model: v(x) = u(x) + c * Laplacian(u)(x), with a learnable c."""

    u: models.MLP
    c: jax.Array
    lap: models.OperatorLayer

    def __call__(self, x, *, key=None):
        return self.u(x) + self.c * self.lap(self.u, x, key=key)


def test_inside_user_module(getkey):
    net = models.MLP(3, 16, 3, key=getkey())
    model = Corrected(net, jnp.array(0.7), models.OperatorLayer(stde.Laplacian()))
    xs = 0.3 * jax.random.normal(getkey(), (4, 3))
    out = eqx.filter_jit(lambda m, xs: jax.vmap(m)(xs))(model, xs)
    ref = jax.vmap(lambda x: model.u(x) + 0.7 * _lap_ref(model.u, x))(xs)
    assert jnp.allclose(out, ref, rtol=1e-10)

    # Gradients w.r.t. the network and c flow through the operator layer.
    def loss(m):
        return jnp.mean(jax.vmap(m)(xs) ** 2)

    def loss_ref(m):
        v = jax.vmap(lambda x: m.u(x) + m.c * _lap_ref(m.u, x))(xs)
        return jnp.mean(v**2)

    g = eqx.filter_jit(eqx.filter_grad(loss))(model)
    g_ref = jit(eqx.filter_grad(loss_ref))(model)
    leaves = jax.tree_util.tree_leaves(eqx.filter(g, eqx.is_inexact_array))
    leaves_ref = jax.tree_util.tree_leaves(eqx.filter(g_ref, eqx.is_inexact_array))
    assert len(leaves) == len(leaves_ref) > 0
    assert all(
        jnp.allclose(a, b, rtol=1e-8, atol=1e-12) for a, b in zip(leaves, leaves_ref, strict=True)
    )


def test_errors(u, getkey):
    # A TypeError from the runtime type checker when it is on (as in this suite), our
    # ValueError otherwise; both name the argument.
    with pytest.raises((TypeError, ValueError), match="operator"):
        models.OperatorLayer("laplacian")
    with pytest.raises((TypeError, ValueError), match="estimator"):
        models.OperatorLayer(stde.Laplacian(), "sparse")
    layer = models.OperatorLayer(stde.Laplacian())
    with pytest.raises(ValueError, match=r"`x` must have shape \(3,\), got \(4,\)"):
        layer(u, jnp.zeros(4))
    with pytest.raises((TypeError, ValueError), match="u"):
        layer(3.0, jnp.zeros(3))
