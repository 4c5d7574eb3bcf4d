"""jit, vmap and grad through the estimators; no retrace; dimension independence."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import stde
from stde._taylor._support import subjaxprs

D = 4


def _model(key, d=D, width=8):
    return eqx.nn.MLP(d, "scalar", width, 2, activation=jnp.tanh, key=key)


def test_vmap_over_points_and_keys(getkey):
    model = _model(getkey())
    xs = jax.random.normal(getkey(), (5, D)) * 0.3
    keys = jax.random.split(getkey(), 5)

    def f(x, k):
        return stde.estimate(stde.Laplacian(), model, x, estimator=stde.SparseSTDE(2), key=k)

    # Both under jit (op by op, each small operation would compile on its own).
    est = jax.jit(jax.vmap(f))(xs, keys)
    one_point = jax.jit(f)
    one = [one_point(x, k) for x, k in zip(xs, keys)]
    np.testing.assert_allclose(est, jnp.stack(one), rtol=1e-10)


def test_grad_wrt_parameters_matches_nested_ad(getkey):
    model = _model(getkey())
    x = jnp.linspace(-0.3, 0.4, D)

    def loss_stde(m):
        return stde.estimate(stde.Laplacian() + stde.Partial((0, 1, 1)), m, x) ** 2

    def loss_ref(m):
        h = jax.hessian(m)(x)
        third = jax.jacfwd(jax.jacfwd(jax.grad(m)))(x)[0, 1, 1]
        return (jnp.trace(h) + third) ** 2

    g1 = eqx.filter_jit(eqx.filter_grad(loss_stde))(model)
    g2 = eqx.filter_jit(eqx.filter_grad(loss_ref))(model)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


def test_no_retrace_on_second_call(getkey):
    model = _model(getkey())

    @eqx.filter_jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def step(m, x, key):
        return stde.estimate(stde.Laplacian(), m, x, estimator=stde.SparseSTDE(3), key=key)

    x = jnp.linspace(-0.3, 0.4, D)
    a = step(model, x, getkey())
    b = step(model, x + 0.1, getkey())
    assert jnp.isfinite(a) and jnp.isfinite(b)


def _all_shapes(jaxpr):
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            yield getattr(v.aval, "shape", ())
        for sub in subjaxprs(eqn.params):
            yield from _all_shapes(sub)


def test_sparse_laplacian_at_a_million_dimensions_is_dimension_lean():
    """No intermediate of size d * num_samples (a one-hot batch) or larger than the first
    layer's weight appears: e_j reaches the network as a column gather."""
    d, width, j = 1_000_000, 4, 16
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    w1 = (
        jax.random.normal(
            k1,
            (width, d),
        )
        / 1000
    )
    w2 = jax.random.normal(k2, (width,))

    def u(x):
        return (1 - jnp.sum(x * x)) * (w2 @ jnp.tanh(w1 @ x))

    x = jnp.full((d,), 1e-4)

    def f(x, key):
        return stde.estimate(stde.Laplacian(), u, x, estimator=stde.SparseSTDE(j), key=key)

    jaxpr = jax.make_jaxpr(f)(x, jax.random.PRNGKey(1)).jaxpr
    largest = max(int(np.prod(s)) for s in _all_shapes(jaxpr))
    assert largest <= width * d < d * j
    value = jax.jit(f)(x, jax.random.PRNGKey(1))
    assert jnp.isfinite(value)
    # One coordinate drawn: the estimate is exactly d * u_jj for the coordinate drawn.
    key = jax.random.PRNGKey(2)
    # `evaluate` splits the key once per operator term and hands the second half on.
    i = int(jax.random.randint(jax.random.split(key)[1], (1,), 0, d)[0])
    est = jax.jit(
        lambda x: stde.estimate(stde.Laplacian(), u, x, estimator=stde.SparseSTDE(1), key=key)
    )(x)
    e = jnp.zeros(d).at[i].set(1.0)
    uii = jax.jit(lambda x: jax.jvp(lambda y: jax.jvp(u, (y,), (e,))[1], (x,), (e,))[1])(x)
    np.testing.assert_allclose(est, d * uii, rtol=1e-9)
