"""The default engine's rules: a user's own primitive, and loops and branches that run as
themselves (`scan`, `while_loop`, `cond`), against nested forward-mode AD."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.interpreters import batching, mlir

import stde
from stde import reference
from stde._taylor._support import primitives
from stde._taylor._values import Dense, Jets, Sparse
from stde._taylor.collapsed import _Interpreter

try:
    from jax.extend.core import Primitive
except ImportError:  # older JAX
    from jax.core import Primitive

OPS = (stde.Laplacian(), stde.Partial((0, 1, 1)), stde.DiagonalDerivative(4))


def _reference(op, fn, x):
    """Nested forward-mode AD (it also runs through `while_loop`)."""
    if isinstance(op, stde.Partial):
        return reference.partial(fn, op.index)(x)
    t = reference.derivative_tensor(fn, 2 if isinstance(op, stde.Laplacian) else 4)(x)
    return jnp.sum(t[(jnp.arange(x.shape[0]),) * t.ndim])


def _references(ops, fn, x):
    """Every operator's nested-AD reference, in one jitted program (op by op, the nested
    AD's many small operations would each compile on their own)."""
    return jax.jit(lambda x: jnp.stack([_reference(op, fn, x) for op in ops]))(x)


def _check(fn, x, ops=OPS, rtol=1e-9):
    got = jax.jit(lambda x: stde.evaluate(ops, fn, x).estimate)(x)
    want = _references(ops, fn, x)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)


def _elementwise_primitive(name, impl):
    """A new primitive with only what any JAX primitive needs to run under `jit` and
    `vmap`: an implementation, a shape rule, a lowering and a batching rule; no JVP and
    no Taylor rule."""
    p = Primitive(name)
    p.def_impl(impl)
    p.def_abstract_eval(lambda x: jax.core.ShapedArray(x.shape, x.dtype))
    mlir.register_lowering(p, mlir.lower_fun(impl, multiple_results=False))
    batching.defvectorized(p)
    return p


def _softsign(x):
    return x / (1 + jnp.abs(x))


def _softsign_derivatives(x, y, k):
    # s^(j)(x) = (-1)^(j+1) j! sign(x)^(j+1) / (1 + |x|)^(j+1)
    a, s = 1 + jnp.abs(x), jnp.sign(x)
    out, fact = [], 1.0
    for j in range(1, k + 1):
        fact *= j
        out.append((-1) ** (j + 1) * fact * s ** (j + 1) / a ** (j + 1))
    return out


def test_registered_rule_for_a_new_primitive():
    softsign_p = _elementwise_primitive("test_softsign", _softsign)
    d = 5
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    w1 = jax.random.normal(k1, (6, d)) / jnp.sqrt(d)
    w2 = jax.random.normal(k2, (6,))
    x = jnp.linspace(-0.6, 0.7, d) + 0.05  # no coordinate at the kink x = 0

    def net(act):
        # The input's coordinates go through the primitive first (sparse tangents), then
        # a layer's output does (dense ones).
        return lambda x: w2 @ act(w1 @ act(x) + 0.1)

    with pytest.raises(ValueError, match="primitive `test_softsign`"):
        stde.estimate(stde.Laplacian(), net(softsign_p.bind), x)
    stde.rules.register_rule(softsign_p, stde.rules.Elementwise(derivatives=_softsign_derivatives))
    got = jax.jit(lambda x: stde.evaluate(OPS, net(softsign_p.bind), x).estimate)(x)
    want = _references(OPS, net(_softsign), x)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # First order alone: one jet of order 1, all of it the collapsed top.
    got = jax.jit(lambda x: stde.estimate(stde.Partial((1,)), net(softsign_p.bind), x))(x)
    want1 = jax.jit(reference.partial(net(_softsign), (1,)))(x)
    np.testing.assert_allclose(got, want1, rtol=1e-9)
    # Stochastic: the sparse estimator with every coordinate drawn is exact in expectation;
    # here its mean over keys matches the exact Laplacian within its standard error.
    keys = jax.random.split(jax.random.PRNGKey(1), 400)
    est = jax.jit(
        jax.vmap(
            lambda k: stde.estimate(
                stde.Laplacian(), net(softsign_p.bind), x, estimator=stde.SparseSTDE(2), key=k
            )
        )
    )(keys)
    assert abs(est.mean() - want[0]) < 4 * est.std() / jnp.sqrt(len(keys))


def test_registered_linear_rule():
    # Linear rules push every coefficient through the primitive's JVP.
    double_p = _elementwise_primitive("test_double", lambda x: 2 * x)
    jax.interpreters.ad.deflinear2(double_p, lambda t, x: [double_p.bind(t)])
    stde.rules.register_rule(double_p, stde.rules.Linear(elementwise=True))
    fn = lambda x: jnp.sum(jnp.tanh(double_p.bind(jnp.sin(x))) ** 3)  # noqa: E731
    x = jnp.linspace(-0.4, 0.5, 4)
    got = jax.jit(lambda x: stde.evaluate(OPS, fn, x).estimate)(x)
    ref = lambda x: jnp.sum(jnp.tanh(2 * jnp.sin(x)) ** 3)  # noqa: E731
    np.testing.assert_allclose(got, _references(OPS, ref, x), rtol=1e-9)


def test_register_rule_rejects_other_objects():
    with pytest.raises(TypeError, match="Rule"):
        stde.rules.register_rule("tanh", lambda *a: None)
    with pytest.raises(TypeError, match="primitive"):
        stde.rules.register_rule(jnp.tanh, stde.rules.Linear())


class _Layer(eqx.Module):
    linear: eqx.nn.Linear

    def __call__(self, h):
        return h + jnp.tanh(self.linear(h)) / 4


class _ScanMLP(eqx.Module):
    """A residual MLP whose hidden layers are stacked and run by `lax.scan` (Equinox's
    scan-over-layers pattern for deep networks)."""

    first: eqx.nn.Linear
    layers: _Layer  # every leaf with a leading axis of length `depth`
    last: eqx.nn.Linear

    def __init__(self, d, width, depth, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.first = eqx.nn.Linear(d, width, key=k1)
        make = lambda k: _Layer(eqx.nn.Linear(width, width, key=k))  # noqa: E731
        self.layers = eqx.filter_vmap(make)(jax.random.split(k2, depth))
        self.last = eqx.nn.Linear(width, "scalar", key=k3)

    def __call__(self, x):
        params, static = eqx.partition(self.layers, eqx.is_array)

        def step(h, p):
            return eqx.combine(p, static)(h), None

        h, _ = jax.lax.scan(step, jnp.tanh(self.first(x)), params)
        return self.last(h)


def test_scan_over_layers_runs_as_a_scan():
    d, depth = 4, 32
    model = _ScanMLP(d, 8, depth, jax.random.PRNGKey(0))
    x = jnp.linspace(-0.4, 0.5, d)
    _check(model, x)
    # The estimate's program holds one scan of the 32 layers, not 32 copies of a layer.
    jaxpr = jax.make_jaxpr(lambda x: stde.estimate(stde.Laplacian(), model, x))(x).jaxpr
    scans = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
    assert [e.params["length"] for e in scans] == [depth]
    assert sum(e.primitive.name == "tanh" for e in jaxpr.eqns) == 1  # the first layer's


def test_gradient_through_a_scanned_estimate_matches_nested_ad():
    # Training differentiates the estimate with respect to the parameters (reverse mode
    # through the engine's scan).
    model = _ScanMLP(3, 6, 5, jax.random.PRNGKey(1))
    x = jnp.linspace(-0.3, 0.4, 3)

    def loss(m):
        return stde.estimate(stde.Laplacian(), m, x) ** 2

    def loss_ref(m):
        return jnp.trace(jax.hessian(m)(x)) ** 2

    g1 = eqx.filter_jit(eqx.filter_grad(loss))(model)
    g2 = eqx.filter_jit(eqx.filter_grad(loss_ref))(model)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


def test_scan_with_jets_in_scanned_operands_outputs_and_a_carry_that_gets_them():
    w = jnp.array([0.3, -0.7, 1.1])

    def fn(x):
        rows = jnp.tanh(jnp.outer(x, w))  # scanned over: jets in every row

        def body(c, r):
            c = c * jnp.cos(r.sum()) + r[0] ** 2
            return c, jnp.sin(r) * c

        # The carry starts as a constant (no jets) and picks them up in the body.
        c, ys = jax.lax.scan(body, 0.5, rows, reverse=True)
        return c + jnp.sum(ys**2)

    _check(fn, jnp.linspace(-0.4, 0.5, 4) + 0.05)


def test_while_loops_run_as_loops():
    def fixed(x):  # a fixed trip count
        c = jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, jnp.tanh(c[1])), (0, x))
        return jnp.sum(c[1] ** 2)

    def traced_bounds(x, n):  # `fori_loop` with a traced bound lowers to `while`
        h = jax.lax.fori_loop(0, n, lambda i, h: jnp.sin(h + 0.1 * i) * h[0], x)
        return jnp.sum(h)

    x = jnp.linspace(-0.4, 0.5, 3) + 0.05
    _check(fixed, x)
    got = jax.jit(lambda x, n: stde.evaluate(OPS, lambda y: traced_bounds(y, n), x).estimate)
    want = _references(OPS, lambda y: traced_bounds(y, 4), x)
    np.testing.assert_allclose(got(x, 4), want, rtol=1e-9)
    jaxpr = jax.make_jaxpr(lambda x: stde.estimate(stde.Laplacian(), fixed, x))(x).jaxpr
    assert "while" in primitives(jaxpr)


def test_cond_runs_only_the_taken_branch():
    calls = {"sin": 0, "cos": 0}
    seen = []

    def branch(name, f):
        def run(h):
            # A side effect per evaluation of the branch, seeing a jet-carrying value.
            jax.debug.callback(
                lambda v: (calls.__setitem__(name, calls[name] + 1), seen.append(v)), h
            )
            return jnp.sum(f(h) * h)

        return run

    def fn(x):
        h = jnp.tanh(x * jnp.arange(1.0, 4.0))
        return jax.lax.cond(x[0] > 0, branch("sin", jnp.sin), branch("cos", jnp.cos), h)

    estimate = jax.jit(lambda x: stde.evaluate(OPS, fn, x).estimate)
    for x, taken, other in [
        (jnp.array([0.3, -0.2, 0.4]), "sin", "cos"),
        (jnp.array([-0.3, -0.2, 0.4]), "cos", "sin"),
    ]:
        calls.update(sin=0, cos=0)
        got = estimate(x)
        jax.effects_barrier()
        # One evaluation of the taken branch per jet batch the operators need; none of
        # the other branch (evaluating both and selecting would call both).
        assert calls[other] == 0 and calls[taken] >= 1, calls
        want = jnp.stack([_reference(op, fn, x) for op in OPS])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # The callback saw the primal of its operand.
    np.testing.assert_allclose(seen[-1], jnp.tanh(jnp.array([-0.3, -0.4, 1.2])))


# --- coordinate tangents kept sparse through windows of coordinates -------------------

_W = jax.random.normal(jax.random.PRNGKey(7), (3, 5))  # a layer applied to each window
_V = jax.random.normal(jax.random.PRNGKey(8), (5, 4))
_B = jax.random.normal(jax.random.PRNGKey(9), (1, 5))


def _windows(x):
    # (d - 2, 3): x_i, x_{i+1}, x_{i+2} as the rows of a stack of slices.
    return jnp.stack([x[j : x.shape[0] - 2 + j] for j in range(3)], axis=1)


# Each returns an array: the rows (or elements) a coordinate reaches stay sparse, and how
# many leading axes index them ("rank") is what the rules should keep.
_SPARSE_FUNCTIONS = {
    "stacked windows": (_windows, 2),
    "a stack on a new first axis": (lambda x: jnp.stack([x[:-1], 2 * x[1:]]), 2),
    "a layer on each window": (lambda x: jnp.tanh(_windows(x) @ _W + _B), 1),
    "two layers on each window": (lambda x: jnp.sin(jnp.tanh(_windows(x) @ _W + _B) @ _V), 1),
    "sums within each window's row": (lambda x: jnp.sum(jnp.tanh(_windows(x) @ _W), 1), 1),
    "concatenated with a constant": (
        lambda x: jnp.concatenate([jnp.ones((2, 3)), _windows(x) ** 2, _windows(x)]),
        2,
    ),
    "rows flattened": (lambda x: jnp.exp(_windows(x) @ _W / 4).reshape(-1), 1),
    "a unit axis added and dropped": (lambda x: jnp.squeeze(jnp.tanh(x[1:4])[:, None] * 2), 1),
    "a slice of rows and columns": (lambda x: jnp.tanh(_windows(x) @ _W)[1:3, 2:4], 1),
}


def _interpret(fn, x, series):
    jets = Jets(3, jnp.ones((1, x.shape[0]), x.dtype))
    closed = jax.make_jaxpr(fn)(x)
    (out,) = _Interpreter(jets).run(closed.jaxpr, closed.consts, [series])
    return jets, out


@pytest.mark.parametrize("name", sorted(_SPARSE_FUNCTIONS))
def test_coordinate_tangents_stay_sparse_through_windows(name):
    fn, rank = _SPARSE_FUNCTIONS[name]
    d = 6
    x = jnp.linspace(-0.5, 0.6, d)
    # Third-order jets along e_i (second coefficient e_i too): every rule's lower
    # coefficients and the collapsed top, against the dense input's path (JVPs and
    # Faa di Bruno on whole arrays).
    lower = jnp.ones((d, 2, 1), x.dtype)
    _, sparse = _interpret(fn, x, Sparse(x, jnp.arange(d)[:, None, None], lower, None))
    jets, dense = _interpret(fn, x, Dense(x, jnp.stack([jnp.eye(d)] * 2, axis=1), None))
    assert isinstance(sparse, Sparse) and sparse.rank == rank
    sparse = jets.densify(sparse)
    np.testing.assert_allclose(sparse.primal, dense.primal, rtol=1e-12)
    np.testing.assert_allclose(sparse.lower, dense.lower, rtol=1e-10, atol=1e-12)
    # No top is a zero top (a linear function's, which one path may carry as zeros).
    top = lambda v: jets.zero_top(v.primal) if v.top is None else v.top  # noqa: E731
    np.testing.assert_allclose(top(sparse), top(dense), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(_SPARSE_FUNCTIONS))
def test_operators_of_windowed_functions_match_nested_ad(name):
    fn, _ = _SPARSE_FUNCTIONS[name]
    x = jnp.linspace(-0.5, 0.6, 6)
    _check(lambda x: jnp.sum(jnp.cos(fn(x))), x)


@pytest.mark.parametrize("m", [2, 3, 6])  # a sum of scaled entries up to 4; an einsum above
def test_coalesce_moves_repeated_indices_onto_their_first_entry(m):
    # Against a plain loop: each jet's values at a repeated index are summed onto that
    # index's first entry and the later copies zeroed, for the lower and top coefficients.
    from stde._taylor.rules import Rule

    n, p, rows = 5, 2, (3,)
    rng = np.random.default_rng(m)
    idx = rng.integers(0, 3, size=(n, m, 1))  # three positions: repeats are common
    lower = rng.normal(size=(n, 2, m) + rows).astype(np.float32)
    top = rng.normal(size=(p, n, m) + rows).astype(np.float32)
    got = Rule.coalesce(Sparse(jnp.zeros((3,) + rows), jnp.asarray(idx), lower, top))
    want_lower, want_top = np.zeros_like(lower), np.zeros_like(top)
    for j in range(n):
        for a in range(m):
            first = next(b for b in range(m) if (idx[j, b] == idx[j, a]).all())
            want_lower[j, :, first] += lower[j, :, a]
            want_top[:, j, first] += top[:, j, a]
    assert any(len(set(idx[j, :, 0])) < m for j in range(n))
    np.testing.assert_allclose(got.lower, want_lower, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.top, want_top, rtol=1e-6, atol=1e-6)
