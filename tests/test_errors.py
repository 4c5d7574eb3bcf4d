"""Every bad input to the engine gives a ValueError that names the argument and the fix."""

import jax
import jax.numpy as jnp
import pytest

import stde


def f(x):
    return jnp.sum(jnp.tanh(x) ** 2)


X = jnp.linspace(-0.3, 0.3, 3)


@pytest.mark.parametrize(
    "make,match",
    [
        (
            lambda: stde.DiagonalDerivative(0),
            r"`DiagonalDerivative\(order=...\)` must be an int >= 1",
        ),
        (lambda: stde.DiagonalDerivative(2.5), r"must be an int >= 1"),
        (lambda: stde.DiagonalDerivative(2, weights=jnp.ones((2, 2))), "one-dimensional"),
        (lambda: stde.DiagonalDerivative(2, weights=jnp.ones(3), dims=2), r"expected \(2,\)"),
        (lambda: stde.Laplacian(dims=0), r"`Laplacian\(dims=...\)` must be an int >= 1 or None"),
        (lambda: stde.Partial(()), "non-empty tuple"),
        (lambda: stde.Partial((0, -1)), "non-negative int"),
        (lambda: stde.SparseSTDE(0), r"`SparseSTDE\(num_samples=...\)` must be an int >= 1"),
        (lambda: stde.DenseSTDE(-3), r"`DenseSTDE\(num_samples=...\)`"),
        (lambda: stde.DenseSTDE(4, "uniform"), "'rademacher' or 'gaussian'"),
    ],
)
def test_constructor_errors(make, match):
    # Under the test suite's runtime type checker a wrongly typed argument may be rejected
    # by jaxtyping/beartype first; that error must still name the value.
    try:
        from jaxtyping import TypeCheckError
    except ImportError:  # pragma: no cover
        TypeCheckError = ValueError
    with pytest.raises((ValueError, TypeCheckError)) as info:
        make()
    if isinstance(info.value, ValueError):
        assert __import__("re").search(match, str(info.value)), str(info.value)


def test_dense_cannot_estimate_diagonal_fourth_order():
    with pytest.raises(
        ValueError,
        match=r"`DenseSTDE` cannot estimate `DiagonalDerivative\(order=4\)`.*"
        r"use `SparseSTDE` or `Exact`",
    ):
        stde.estimate(
            stde.DiagonalDerivative(4), f, X, estimator=stde.DenseSTDE(4), key=jax.random.PRNGKey(0)
        )


def test_dense_cannot_estimate_odd_order():
    with pytest.raises(ValueError, match=r"cannot estimate `DiagonalDerivative\(order=3\)`"):
        stde.estimate(
            stde.DiagonalDerivative(3), f, X, estimator=stde.DenseSTDE(4), key=jax.random.PRNGKey(0)
        )


def test_rademacher_cannot_estimate_biharmonic():
    with pytest.raises(ValueError, match="use `DenseSTDE\\(distribution='gaussian'\\)`"):
        stde.estimate(
            stde.Biharmonic(), f, X, estimator=stde.DenseSTDE(4), key=jax.random.PRNGKey(0)
        )


def test_stochastic_needs_a_key():
    with pytest.raises(ValueError, match="`SparseSTDE` is stochastic: pass `key=`"):
        stde.estimate(stde.Laplacian(), f, X, estimator=stde.SparseSTDE(2))


@pytest.mark.parametrize(
    "x,match",
    [
        (jnp.ones((2, 3)), r"`x` must have shape \(n,\), got \(2, 3\)"),
        (jnp.ones(()), r"got \(\)"),
        (jnp.arange(3), "floating-point"),
    ],
)
def test_bad_points(x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        stde.estimate(stde.Laplacian(), f, x)


def test_operator_beyond_the_input():
    with pytest.raises(ValueError, match=r"needs input coordinate 5, but `x` has shape \(3,\)"):
        stde.estimate(stde.Partial((0, 5)), f, X)


def test_field_must_be_scalar():
    with pytest.raises(ValueError, match=r"`fn` must return a scalar, got shape \(3,\)"):
        stde.estimate(stde.Laplacian(), jnp.tanh, X)


def test_not_an_operator():
    with pytest.raises((ValueError, TypeError), match="operator"):
        stde.estimate("laplacian", f, X)


def test_weights_function_of_the_wrong_shape():
    op = stde.DiagonalDerivative(2, weights=lambda x: x[:2], dims=3)
    with pytest.raises(ValueError, match=r"gave shape \(2,\), expected \(3,\)"):
        stde.estimate(op, f, X)
