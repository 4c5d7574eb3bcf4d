"""Property-based tests (hypothesis): operators against nested AD, verified jet plans,
samplers inside their domains.

Deterministic in CI (`derandomize=True`); examples that compile JAX are few, the
symbolic ones many.
"""

import functools
import math
from collections import Counter
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import pdes
import stde
from stde import reference
from stde._planning import combine, expand_jet

# Under `-n N --dist loadgroup` this module runs on one worker: the nested-AD derivative
# tensors (`_tensor`, cached) and the samplers' compilations are shared by its tests.
pytestmark = pytest.mark.xdist_group("properties")

D = 4  # input dimension of the test field


def _settings(n):
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _field():
    """A fixed small tanh MLP (dense first layer: cross terms between all coordinates)
    plus a four-way product: every mixed partial is nonzero, so a plan contaminated by
    another partial shows."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(7), 3)
    w1 = jax.random.normal(k1, (6, D), jnp.float64) / 2
    w2 = jax.random.normal(k2, (6, 6), jnp.float64) / jnp.sqrt(6.0)
    w3 = jax.random.normal(k3, (6,), jnp.float64)

    def u(x):
        h = jnp.tanh(w2 @ jnp.tanh(w1 @ x + 0.1) - 0.2)
        return w3 @ h + x[0] * x[1] * x[2] * x[3]

    return u


U = _field()
X = jnp.array([0.3, -0.2, 0.45, 0.1], jnp.float64)

# ------------------------------------------------------------------ strategies

multi_indices = st.lists(st.integers(0, D - 1), min_size=1, max_size=6).map(tuple)
coefficients = st.floats(-2.0, 2.0, allow_nan=False).filter(lambda c: abs(c) > 1e-3)

# Operators are drawn as plain specs and built in the test (constructing JAX arrays inside
# a strategy trips hypothesis' global-random-state check).
diagonal_specs = st.integers(1, 4).flatmap(
    lambda order: st.sampled_from([None, 2, 3, D]).flatmap(
        lambda dims: st.tuples(
            st.just("diagonal"),
            st.just(order),
            st.just(dims),
            st.none() | st.lists(coefficients, min_size=dims or D, max_size=dims or D),
        )
    )
)
atom_specs = st.one_of(
    st.tuples(st.just("laplacian"), st.sampled_from([None, 2, 3])),
    diagonal_specs,
    st.tuples(st.just("biharmonic"), st.sampled_from([None, 3])),
    st.tuples(st.just("partial"), st.lists(st.integers(0, D - 1), min_size=1, max_size=4)),
)
operator_specs = st.lists(st.tuples(coefficients, atom_specs), min_size=1, max_size=3)


def _atom(spec):
    kind, *args = spec
    if kind == "laplacian":
        return stde.Laplacian(dims=args[0])
    if kind == "biharmonic":
        return stde.Biharmonic(dims=args[0])
    if kind == "partial":
        return stde.Partial(args[0])
    order, dims, weights = args
    weights = None if weights is None else jnp.asarray(weights, jnp.float64)
    return stde.DiagonalDerivative(order, weights=weights, dims=dims)


def _operator(spec):
    op = spec[0][0] * _atom(spec[0][1])
    for c, a in spec[1:]:
        op = op + c * _atom(a)
    return op


# ------------------------------------------------------------- nested AD reference


@functools.cache
def _tensor(order: int):
    """The full derivative tensor of `U` at `X` by nested `jax.jacfwd`, computed once per
    order (at most 4^6 entries): every reference below is a lookup or a contraction."""
    return np.asarray(jax.jit(reference.derivative_tensor(U, order))(X))


def _reference_atom(atom):
    dims = getattr(atom, "dims", None) or D
    if isinstance(atom, stde.Partial):
        return _tensor(len(atom.index))[atom.index]
    if isinstance(atom, stde.Laplacian):
        return np.trace(_tensor(2)[:dims, :dims])
    if isinstance(atom, stde.Biharmonic):
        return np.einsum("iijj->", _tensor(4)[:dims, :dims, :dims, :dims])
    diag = _tensor(atom.order)[(np.arange(dims),) * atom.order]
    w = np.ones(dims) if atom.weights is None else np.asarray(atom.weights)
    return np.sum(w * diag)


def _reference(op):
    return sum(c * _reference_atom(a) for c, a in op.terms())


def test_reference_tensor_is_symmetric_and_matches_nested_jvp():
    # The lookups rely on the tensor being symmetric; spot-check against `partial`.
    t = _tensor(4)
    assert np.allclose(t, np.transpose(t, (2, 0, 3, 1)), rtol=1e-12, atol=1e-12)
    want = reference.partial(U, (0, 1, 2, 3, 0, 1))(X)
    _assert_close(_tensor(6)[0, 1, 2, 3, 0, 1], want)


def _assert_close(got, want):
    got, want = float(got), float(want)
    assert math.isfinite(got) and math.isfinite(want)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * (1 + abs(want)))


# ---------------------------------------------------------- exact vs nested AD


def _exact_and_reference(ops):
    """`Exact()` for several operators in one jitted pass (one compile per example)
    against the nested-AD derivative tensors."""
    got = jax.jit(lambda x: stde.evaluate(tuple(ops), U, x).estimate)(X)
    for g, op in zip(got, ops):
        _assert_close(g, _reference(op))


@_settings(5)
@given(
    indices=st.tuples(
        st.lists(st.integers(0, D - 1), min_size=6, max_size=6),
        st.lists(st.integers(0, D - 1), min_size=1, max_size=5),
        multi_indices,
    )
)
def test_partials_match_nested_ad(indices):
    # Multi-indices over 4 coordinates, three per example, one of them of order 6.
    _exact_and_reference([stde.Partial(i) for i in indices])


@_settings(5)
@given(specs=st.lists(operator_specs, min_size=2, max_size=2))
def test_linear_combinations_match_nested_ad(specs):
    _exact_and_reference([_operator(s) for s in specs])


# ------------------------------------------------------------------ jet planning


@st.composite
def labelled_indices(draw):
    """Order 1..6 over at most 4 distinct coordinates with arbitrary labels (the planner
    must not care which coordinates they are)."""
    coords = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=4, unique=True))
    return tuple(draw(st.lists(st.sampled_from(coords), min_size=1, max_size=6)))


@_settings(60)
@given(index=labelled_indices(), data=st.data())
def test_plan_partial_always_verifies(index, data):
    plan = stde.planning.plan_partial(index)
    target = tuple(sorted(index))
    assert plan.target == {target: Fraction(1)}
    # Independently of `verify`: expand every jet by Faà di Bruno and sum.
    total = Counter()
    for pj in plan.jets:
        for mi, c in expand_jet(pj.jet).items():
            total[mi] += pj.weight * c
    assert {mi: c for mi, c in total.items() if c != 0} == {target: 1}
    assert combine(plan.jets) == {target: 1}
    # The order of the coordinates in the multi-index does not matter.
    shuffled = data.draw(st.permutations(index))
    assert stde.planning.plan_partial(tuple(shuffled)) == plan
    # Jets only touch the differentiated coordinates.
    coords = {c for pj in plan.jets for _, d in pj.jet.slots for c, _ in d}
    assert coords <= set(index)


# ---------------------------------------------------------------------- samplers

seeds = st.integers(0, 2**31 - 1)
BALL = [n for n in pdes.names() if "body" in n]


def _norms(x):
    return np.linalg.norm(np.asarray(x, np.float64), axis=1)


@_settings(6)
@given(
    name=st.sampled_from(BALL),
    n=st.integers(1, 40),
    dim=st.integers(3, 30),
    seed=seeds,
    sampling=st.sampled_from(["radius", "volume"]),
)
def test_ball_samplers_stay_in_the_ball(name, n, dim, seed, sampling):
    pde = pdes.get(name, dim=dim, seed=seed % 1000, sampling=sampling)
    # Jitted: one compile per example instead of one per eager primitive and shape.
    x, b = jax.jit(lambda k: (pde.sample_interior(k, n), pde.sample_boundary(k, n)))(
        jax.random.PRNGKey(seed)
    )
    assert x.shape == (n, dim)
    assert np.all(np.isfinite(x))
    assert np.all(_norms(x) <= pde.radius * (1 + 1e-12))
    assert b.shape == (n, dim)
    np.testing.assert_allclose(_norms(b), pde.radius, rtol=1e-10)


@_settings(6)
@given(
    n=st.integers(1, 40),
    dim=st.integers(1, 30),
    seed=seeds,
    radius=st.floats(1e-3, 1e3),
    sampling=st.sampled_from(["radius", "volume"]),
)
def test_sample_ball_and_sphere(n, dim, seed, radius, sampling):
    x, s = jax.jit(
        lambda k: (
            pdes.sample_ball(k, n, dim, radius, sampling),
            pdes.sample_sphere(k, n, dim, radius),
        )
    )(jax.random.PRNGKey(seed))
    assert x.shape == (n, dim) and np.all(np.isfinite(x))
    assert np.all(_norms(x) <= radius * (1 + 1e-12))
    np.testing.assert_allclose(_norms(s), radius, rtol=1e-10)


TIME_DEPENDENT = [
    "heat-parabolic",
    "allen-cahn-parabolic",
    "sine-gordon-parabolic",
    "hjb-lqg",
    "hjb-lin",
    "black-scholes-barenblatt",
]


@_settings(6)
@given(
    name=st.sampled_from(TIME_DEPENDENT),
    # One Brownian path (10 times) and two dimensions: each (paths, dim, T) compiles the
    # diffrax simulation, so few distinct ones keep this fast.
    n=st.integers(1, 10),
    dim=st.sampled_from([1, 3]),
    seed=seeds,
)
def test_time_dependent_samplers_stay_in_time_window(name, n, dim, seed):
    pde = pdes.get(name, dim=dim)
    x = pde.sample_interior(jax.random.PRNGKey(seed), n)
    assert x.shape == (n, dim + 1)
    assert np.all(np.isfinite(x))
    t = np.asarray(x[:, -1])
    assert np.all((t >= 0) & (t <= pde.final_time))
    if name == "black-scholes-barenblatt":
        # Geometric Brownian motion from a positive start stays positive.
        assert np.all(np.asarray(x[:, :-1]) > 0)


@_settings(6)
@given(
    name=st.sampled_from(["kdv-1d", "kdv-2d"]),
    n=st.integers(1, 60),
    seed=seeds,
)
def test_kdv_samplers_stay_in_the_box(name, n, seed):
    pde = pdes.get(name)
    x = np.asarray(jax.jit(lambda k: pde.sample_interior(k, n))(jax.random.PRNGKey(seed)))
    assert x.shape == (n, pde.input_dim)
    low = np.array([-1.0, 0.0]) if name == "kdv-1d" else np.zeros(3)
    assert np.all((x >= low) & (x <= 1.0))


@_settings(6)
@given(
    n=st.integers(1, 40),
    dim=st.integers(1, 6),
    seed=seeds,
    domain=st.sampled_from(["ball", "box"]),
    final_time=st.sampled_from([None, 0.5, 2.0]),
    radius=st.floats(0.1, 10.0),
    low=st.floats(-5.0, 4.0),
    width=st.floats(0.01, 5.0),
)
def test_custom_pde_samplers(n, dim, seed, domain, final_time, radius, low, width):
    bounds = (low, low + width)
    pde = pdes.CustomPDE(
        dim,
        stde.Laplacian(dims=dim),
        domain=domain,
        radius=radius,
        bounds=bounds,
        final_time=final_time,
    )
    x = np.asarray(jax.jit(lambda k: pde.sample_interior(k, n))(jax.random.PRNGKey(seed)))
    assert x.shape == (n, pde.input_dim) and np.all(np.isfinite(x))
    space = x[:, :dim]
    if domain == "ball":
        assert np.all(_norms(space) <= radius * (1 + 1e-12))
    else:
        tol = 1e-12 * (1 + abs(bounds[0]) + abs(bounds[1]))  # rounding of low + w * U
        assert np.all((space >= bounds[0] - tol) & (space <= bounds[1] + tol))
    if final_time is not None:
        assert np.all((x[:, -1] >= 0) & (x[:, -1] <= final_time))
