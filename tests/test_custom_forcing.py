"""`CustomPDE` with a manufactured solution: the residual estimates its forcing with the
residual's own estimator and key, so it is exactly 0 at the solution for every key,
unbiased for the exact residual (checked against nested autodiff), and its cost does not
grow with the number of Laplacian jets of the solution (`dim` of them when exact)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdes
import stde

D = 6


def _truth(x):
    return (1 - x @ x) * jnp.sin(x[0]) + 0.3 * x[1] * x[2] ** 2 * jnp.exp(x[-1])


def _candidate(x):
    w = jnp.linspace(-0.7, 0.9, x.shape[0], dtype=x.dtype)
    return jnp.tanh(x @ w + 0.2) * (1 - x @ x) + 0.1 * jnp.cos(x[1])


@functools.partial(jax.jit, static_argnums=0)
def _laplacian(f, x):
    return jnp.trace(jax.hessian(f)(x))


def _pde(gradient: bool):
    if gradient:
        return pdes.CustomPDE(
            D,
            stde.Laplacian(),
            nonlinearity=lambda u, g: u - u**3 + 0.5 * g @ g,
            needs_gradient=True,
            exact_solution=_truth,
        )
    return pdes.CustomPDE(
        D, stde.Laplacian(), nonlinearity=lambda u, g: u - u**3, exact_solution=_truth
    )


@functools.partial(jax.jit, static_argnums=(0, 2))
def _exact_residual(f, x, gradient: bool):
    """L f + N(f) - (L u* + N(u*)) by nested autodiff."""

    def lhs(g):
        n = g(x) - g(x) ** 3
        if gradient:
            gr = jax.grad(g)(x)
            n = n + 0.5 * gr @ gr
        return _laplacian(g, x) + n

    return lhs(f) - lhs(_truth)


X = jnp.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.25])
ESTIMATOR = stde.SparseSTDE(2)


@pytest.mark.parametrize("gradient", [True])
def test_residual_is_zero_at_the_solution_for_every_key(gradient):
    pde = _pde(gradient)
    keys = jax.random.split(jax.random.key(0), 16)
    r = jax.jit(jax.vmap(lambda k: pde.residual(_truth, X, estimator=ESTIMATOR, key=k)))(keys)
    np.testing.assert_allclose(np.asarray(r), 0.0, atol=1e-12)
    # Against the exact forcing, a single estimate of the solution's Laplacian is not 0.
    lap = jax.jit(
        jax.vmap(lambda k: stde.estimate(stde.Laplacian(), _truth, X, estimator=ESTIMATOR, key=k))
    )
    assert np.max(np.abs(np.asarray(lap(keys)) - float(_laplacian(_truth, X)))) > 0.1


@pytest.mark.parametrize("gradient", [True])
def test_exact_estimator_gives_the_exact_residual(gradient):
    pde = _pde(gradient)
    got = jax.jit(lambda y: pde.residual(_candidate, y))(X)
    np.testing.assert_allclose(
        float(got), float(_exact_residual(_candidate, X, gradient)), rtol=1e-10
    )
    # `forcing(x)` stays the exact L u* + N(u*).
    want = _laplacian(_truth, X) + _truth(X) - _truth(X) ** 3
    if gradient:
        want = want + 0.5 * jnp.sum(jax.jit(jax.grad(_truth))(X) ** 2)
    np.testing.assert_allclose(float(jax.jit(pde.forcing)(X)), float(want), rtol=1e-10)


@pytest.mark.slow  # 4000 keys, compiled twice (~10 s on a shared machine)
@pytest.mark.parametrize("gradient", [False, True])
def test_estimated_residual_is_the_estimate_of_the_difference_and_unbiased(gradient):
    pde = _pde(gradient)
    keys = jax.random.split(jax.random.key(1), 4000)
    r = jax.jit(jax.vmap(lambda k: pde.residual(_candidate, X, estimator=ESTIMATOR, key=k)))(keys)
    r = np.asarray(r)
    # Per key: the operator's estimate on u - u*, with the same directions, plus N(u) - N(u*).
    nonlinear = _exact_residual(_candidate, X, gradient) - (
        _laplacian(_candidate, X) - _laplacian(_truth, X)
    )
    diff = jax.jit(
        jax.vmap(
            lambda k: stde.estimate(
                stde.Laplacian(), lambda y: _candidate(y) - _truth(y), X, estimator=ESTIMATOR, key=k
            )
        )
    )(keys[:8])
    np.testing.assert_allclose(r[:8], np.asarray(diff) + float(nonlinear), rtol=1e-10, atol=1e-12)
    # Unbiased: the mean over keys is the exact residual, within 4 standard errors.
    exact = float(_exact_residual(_candidate, X, gradient))
    se = r.std(ddof=1) / np.sqrt(r.size)
    assert se > 0
    assert abs(r.mean() - exact) < 4 * se


def _flops(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(cost, list | tuple):
        cost = cost[0]
    return float(cost["flops"])


@pytest.mark.slow  # four compilations (~7 s)
def test_residual_cost_does_not_grow_with_the_jets_of_the_solution():
    """FLOPs of one residual at d = 40 and d = 400: u* and u cost O(d) each, so an
    estimator with a fixed number of jets grows ~10x; the exact forcing (d jets of u*)
    grows ~100x."""

    def costs(d):
        pde = pdes.CustomPDE(
            d, stde.Laplacian(), nonlinearity=lambda u, g: u - u**3, exact_solution=_truth
        )
        x = jnp.full((d,), 0.5 / np.sqrt(d))
        key = jax.random.key(0)
        est = _flops(lambda y, k: pde.residual(_candidate, y, estimator=ESTIMATOR, key=k), x, key)
        exact_forcing = _flops(pde.forcing, x)
        return est, exact_forcing

    (e1, f1), (e2, f2) = costs(40), costs(400)
    assert e2 / e1 < 20
    assert f2 / f1 > 50
