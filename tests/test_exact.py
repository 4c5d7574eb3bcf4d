"""`Exact()` against nested automatic differentiation, for every operator and engine."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import stde
from stde import reference

ENGINES = [stde.TaylorEngine(), stde.JetEngine()]


def _mlp(activation, d, key):
    k1, k2, k3 = jax.random.split(key, 3)
    w1 = jax.random.normal(k1, (6, d)) / jnp.sqrt(d)
    w2 = jax.random.normal(k2, (6, 6)) / jnp.sqrt(6)
    w3 = jax.random.normal(k3, (6,))
    return lambda x: w3 @ activation(w2 @ activation(w1 @ x + 0.1) - 0.2)


def _fields(d):
    key = jax.random.PRNGKey(d)
    k1, k2, k3 = jax.random.split(key, 3)
    eqx_mlp = eqx.nn.MLP(d, "scalar", 5, 2, activation=jnp.tanh, key=k3)
    fields = {
        "tanh-mlp": _mlp(jnp.tanh, d, k1),
        "sin-mlp": _mlp(jnp.sin, d, k2),
        "eqx-mlp": eqx_mlp,
    }
    if d >= 3:
        # Cross terms that a contaminated plan for u_{000 1} would pick up: a slot choice
        # that leaks u_{002} or u_{0001}'s neighbours shows up as a wrong number.
        fields["polynomial"] = lambda x: (
            x[0] ** 2 * x[2] + x[0] ** 3 * x[1] + x[1] ** 3 * x[2] + x[0] ** 4 + x[0] * x[1] * x[2]
        )
    else:
        fields["polynomial"] = lambda x: x[0] ** 4 + x[0] ** 3 * x[-1] + 2 * x[-1] ** 2
    return fields


def _point(d):
    return jnp.linspace(-0.4, 0.5, d) + 0.05


def _reference(op, fn, x):
    d = x.shape[0]
    dims = getattr(op, "dims", None) or d
    if isinstance(op, stde.Partial):
        return reference.partial(fn, op.index)(x)
    if isinstance(op, stde.Laplacian):
        return jnp.trace(jax.hessian(fn)(x)[:dims, :dims])
    if isinstance(op, stde.Biharmonic):
        return jnp.einsum(
            "iijj->", reference.derivative_tensor(fn, 4)(x)[:dims, :dims, :dims, :dims]
        )
    if isinstance(op, stde.DiagonalDerivative):
        t = reference.derivative_tensor(fn, op.order)(x)
        diag = t[(jnp.arange(dims),) * op.order]
        w = (
            jnp.ones(dims)
            if op.weights is None
            else (op.weights(x) if callable(op.weights) else op.weights)
        )
        return jnp.sum(w * diag)
    if isinstance(op, stde.LinearCombination):
        return sum(c * _reference(a, fn, x) for c, a in op.terms())
    raise TypeError(op)


def _operators(d):
    ops = [
        stde.Laplacian(),
        stde.DiagonalDerivative(1, weights=jnp.arange(1.0, d + 1)),
        stde.DiagonalDerivative(3),
        stde.DiagonalDerivative(4, weights=lambda x: 1 + x**2),
        stde.Biharmonic(),
        stde.Partial((0, 0, 0)),
    ]
    if d >= 2:
        ops += [
            stde.Partial((0, 1)),
            stde.Partial((0, 0, 1)),
            stde.Partial((0, 0, 0, 1)),
            stde.Partial((0, 0, 1, 1, 1, 1)),
            stde.Laplacian() - 0.5 * stde.Partial((1, 0)) + 2.0 * stde.DiagonalDerivative(3),
        ]
    if d >= 3:
        ops += [
            stde.Partial((0, 1, 2)),
            stde.Partial((2, 0, 1, 0, 1)),
            stde.Partial((0, 0, 0, 1, 2, 2)),
            stde.Laplacian(dims=2) + stde.Biharmonic(dims=2),
        ]
    return ops


# d = 5 runs every operator (those of d = 2 among them) and d = 1 the one-input edge; the
# d = 2 cases (compile-bound, ~5-15 s each here) are with the slow tests. At d = 5 the sin
# and Equinox fields (~10 CPU-s each) are slow too, run by name in CI (.ci/run): the quick
# loop keeps every operator on the tanh MLP and the polynomial, and both fields at d = 1.
EXACT_CASES = [
    pytest.param(
        d,
        name,
        marks=pytest.mark.slow if d == 2 or (d == 5 and name in ("sin-mlp", "eqx-mlp")) else (),
        id=f"{d}-{name}",
    )
    for d in (1, 2, 5)
    for name in ("tanh-mlp", "sin-mlp", "eqx-mlp", "polynomial")
]


@pytest.mark.parametrize("d, name", EXACT_CASES)
def test_exact_matches_nested_ad(d, name):
    fn = _fields(d)[name]
    ops = _operators(d)
    x = _point(d)
    # The nested-AD references, compiled once for both engines.
    wants = jax.jit(lambda x: [_reference(op, fn, x) for op in ops])(x)
    for engine in ENGINES:
        # All operators in one pass; each is still checked on its own.
        got = jax.jit(lambda x, e=engine: stde.evaluate(tuple(ops), fn, x, engine=e).estimate)(x)
        assert got.dtype == jnp.float64
        for op, g, want in zip(ops, got, wants):
            np.testing.assert_allclose(
                g,
                want,
                rtol=1e-9,
                atol=1e-10 * (1 + abs(float(want))),
                err_msg=f"{type(engine).__name__}: {op!r}",
            )


def test_tuple_of_operators_shares_one_pass(getkey):
    fn = _fields(3)["tanh-mlp"]
    x = _point(3)
    ops = (stde.Laplacian(), stde.Partial((0, 1)), stde.DiagonalDerivative(3))
    ev = jax.jit(lambda x: stde.evaluate(ops, fn, x, gradient=True))(x)
    assert ev.estimate.shape == (3,)
    wants = jax.jit(lambda x: [_reference(op, fn, x) for op in ops])(x)
    for k, want in enumerate(wants):
        np.testing.assert_allclose(ev.estimate[k], want, rtol=1e-9)
    np.testing.assert_allclose(ev.value, fn(x), rtol=1e-12)
    np.testing.assert_allclose(ev.gradient, jax.jit(jax.grad(fn))(x), rtol=1e-12)


def test_partials_share_jets():
    # The gradient-enhanced 1D KdV's eight partials: their plans push 16 jets; parallel
    # directions merge and lower coefficients are read, leaving 5 jets of order 4.
    from stde._jets import from_plans
    from stde._planning import plan_partial

    idx = [(1,), (0,), (0, 0, 0), (0, 1), (0, 0), (0, 0, 0, 0), (1, 1), (0, 0, 0, 1)]
    plans = [plan_partial(i) for i in idx]
    assert sum(len(p.jets) for p in plans) == 16
    batches = from_plans([(q, 1.0, p) for q, p in enumerate(plans)], len(idx), jnp.float64)
    assert [(b.order, b.num_jets) for b in batches] == [(4, 5)]


@pytest.mark.parametrize("engine", ENGINES, ids=["taylor", "jet"])
def test_shared_partials_with_traced_coefficients(engine):
    fn = _fields(2)["tanh-mlp"]
    x = _point(2)
    P = stde.Partial

    def ops(c):
        return (c * P((0, 0)) + P((0, 0, 0, 1)), c * P((1,)) - P((0, 1)), P((1, 1, 1)))

    got = jax.jit(lambda c, x: stde.evaluate(ops(c), fn, x, engine=engine).estimate)(0.7, x)
    wants = jax.jit(lambda x: [_reference(op, fn, x) for op in ops(0.7)])(x)
    for g, op, want in zip(got, ops(0.7), wants):
        np.testing.assert_allclose(g, want, rtol=1e-9, err_msg=repr(op))


def test_functions_jet_cannot_propagate():
    """relu and softplus (custom_jvp), arctan and a fori_loop through the default engine."""
    d = 3

    def fn(x):
        h = jax.nn.relu(x + 0.3) + jax.nn.softplus(x) + jnp.arctan(2 * x) + jax.nn.silu(x)
        h = jax.lax.fori_loop(0, 3, lambda i, c: jnp.tanh(c + 0.1 * i), h)
        return jnp.sum(h**2)

    x = _point(d)
    ops = (stde.Laplacian(), stde.Partial((0, 1, 1)), stde.DiagonalDerivative(4))
    got = jax.jit(lambda x: stde.evaluate(ops, fn, x).estimate)(x)
    want = jax.jit(lambda x: jnp.stack([_reference(op, fn, x) for op in ops]))(x)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="cannot propagate jets through the primitive"):
        stde.estimate(stde.Laplacian(), fn, x, engine=stde.JetEngine())


def test_while_loop_is_a_clear_error_of_the_jet_engine():
    # The default engine runs while loops (tests/test_engine_rules.py); plain jet cannot.
    def fn(x):
        return jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, jnp.tanh(c[1])), (0, x))[
            1
        ].sum()

    with pytest.raises(ValueError, match="primitive `while`"):
        stde.estimate(stde.Laplacian(), fn, _point(2), engine=stde.JetEngine())


def test_erfc_keeps_its_precision_in_float32():
    # jax.experimental.jet composes erfc as 1 - erf, which is 0 in float32 from x ~ 4 on;
    # the default engine takes the primal from erfc itself (plain jet would give inf here).
    fn = lambda x: jnp.sum(jnp.log(jax.lax.erfc(x)))
    x = jnp.array([4.0, 4.5, 0.3], jnp.float32)
    got = jax.jit(lambda x: stde.evaluate(stde.Laplacian(), fn, x).estimate)(x)
    want = jax.jit(lambda x: jnp.trace(jax.hessian(fn)(x)))(x)
    np.testing.assert_allclose(got, want, rtol=1e-4)
