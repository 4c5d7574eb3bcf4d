"""Field networks and ansatzes: transformations, derivatives vs nested AD, validation."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
import stde

# Under `-n N --dist loadgroup` this module runs on one worker: its tests compile the same
# fields' forward passes and derivatives, once per worker that runs any of them.
pytestmark = pytest.mark.xdist_group("models")


def _g(xs):
    return jnp.sum(jnp.cos(xs))


def _window(key, in_size=5, window=3, width=8, depth=3, features=2, scale=1.5):
    """A `WindowMLP` with a random readout (it starts at zero: a constant field)."""
    k1, k2 = jax.random.split(key)
    net = models.WindowMLP(in_size, window, width, depth, features, scale=scale, key=k1)
    weight = jax.random.normal(k2, net.readout.weight.shape)
    return eqx.tree_at(lambda n: (n.readout.weight, n.readout.bias), net, (weight, jnp.ones(1)))


# name -> constructor(key); small sizes keep nested-AD references cheap.
FIELDS = {
    "window-mlp": _window,
    "mlp-tanh": lambda k: models.MLP(4, 16, 3, key=k),
    "mlp-sin": lambda k: models.MLP(4, 16, 3, "sin", key=k),
    "mlp-silu": lambda k: models.MLP(4, 16, 3, "silu", key=k),
    "mlp-gelu": lambda k: models.MLP(4, 16, 3, "gelu", key=k),
    "mlp-callable": lambda k: models.MLP(4, 16, 3, jnp.cos, key=k),
    "shared-mlp": lambda k: models.SharedMLP(4, 2, 16, 3, key=k),
    "residual-mlp": lambda k: models.ResidualMLP(4, 16, 3, key=k),
    "fourier": lambda k: models.Embedded(
        models.FourierFeatures(4, 3, 0.5, key=k), models.MLP(6, 16, 3, key=k)
    ),
    "ball": lambda k: models.Constrained(models.MLP(4, 16, 3, key=k), stde.BallAnsatz()),
    "clamped-ball": lambda k: models.Constrained(
        models.MLP(4, 16, 3, key=k), stde.BallAnsatz(2.0, power=2)
    ),
    "initial-value": lambda k: models.Constrained(
        models.MLP(4, 16, 3, key=k), stde.InitialValueAnsatz(_g)
    ),
    # u = g on the faces of the spatial box too (Dirichlet data constant in time).
    "initial-value-box": lambda k: models.Constrained(
        models.MLP(4, 16, 3, key=k),
        stde.InitialValueAnsatz(_g, box=((-1.0, -2.0, -1.0), (1.0, 0.5, 2.0))),
    ),
    # The base sees the whole input (time included), e.g. a heat-evolved initial condition.
    "evolved-initial-value": lambda k: models.Constrained(
        models.MLP(4, 16, 3, key=k), stde.EvolvedInitialValueAnsatz(_g)
    ),
    "terminal-value": lambda k: models.Constrained(
        models.MLP(4, 16, 3, key=k), stde.TerminalValueAnsatz(_g, 0.3)
    ),
    # in_size 4, coords (0, 2), K = 2: 2 + 2 * 2 * 2 = 10 inputs to the net.
    "periodic": lambda k: models.Embedded(
        models.PeriodicEmbedding(4, (0, 2), period=2.0, num_frequencies=2),
        models.MLP(10, 16, 3, key=k),
    ),
}


@pytest.fixture(params=sorted(FIELDS))
def field(request, getkey):
    return FIELDS[request.param](getkey())


@eqx.filter_jit
def _laplacian_ref(u, x):
    return jnp.trace(jax.hessian(u)(x))


def _along(u, x, i, j):
    # The restriction of u to the plane through x spanned by e_i, e_j.
    ei = jnp.zeros_like(x).at[i].set(1.0)
    ej = jnp.zeros_like(x).at[j].set(1.0)
    return lambda s, t: u(x + s * ei + t * ej)


@eqx.filter_jit
def _diag4_ref(u, x):
    # sum_i d^4 u / dx_i^4 by four nested scalar grads along each coordinate.
    def one(i):
        f = lambda s: _along(u, x, i, i)(s, 0.0)
        return jax.grad(jax.grad(jax.grad(jax.grad(f))))(0.0)

    return jnp.sum(jax.vmap(one)(jnp.arange(x.shape[0])))


@eqx.filter_jit
def _biharmonic_ref(u, x):
    # sum_ij d^4 u / dx_i^2 dx_j^2 by nested scalar grads, two in each direction.
    def one(i, j):
        f = _along(u, x, i, j)
        d2t = lambda s: jax.grad(jax.grad(lambda t: f(s, t)))(0.0)
        return jax.grad(jax.grad(d2t))(0.0)

    n = x.shape[0]
    i, j = jnp.meshgrid(jnp.arange(n), jnp.arange(n))
    return jnp.sum(jax.vmap(one)(i.ravel(), j.ravel()))


def test_jit_vmap(field, getkey):
    xs = 0.5 * jax.random.normal(getkey(), (5, field.in_size))
    eager = jnp.stack([field(x) for x in xs])
    batched = eqx.filter_jit(lambda m, xs: jax.vmap(m)(xs))(field, xs)
    assert batched.shape == (5,)
    assert jnp.allclose(eager, batched, rtol=1e-12)


def test_grad_wrt_parameters(field, getkey):
    xs = 0.5 * jax.random.normal(getkey(), (5, field.in_size))

    def loss(model):
        return jnp.mean(jax.vmap(model)(xs) ** 2)

    grads = eqx.filter_jit(eqx.filter_grad(loss))(field)
    # Independent check: reverse-mode grad . v equals the forward-mode directional derivative.
    params, static = eqx.partition(field, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(getkey(), len(leaves))
    v = jax.tree_util.tree_unflatten(
        treedef, [jax.random.normal(k, p.shape, p.dtype) for k, p in zip(keys, leaves, strict=True)]
    )
    _, jvp = jax.jit(lambda p, v: jax.jvp(lambda p: loss(eqx.combine(p, static)), (p,), (v,)))(
        params, v
    )
    g = eqx.filter(grads, eqx.is_inexact_array)
    dot = sum(
        jnp.vdot(a, b)
        for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(v), strict=True)
    )
    assert jnp.abs(jvp) > 0
    assert jnp.allclose(dot, jvp, rtol=1e-10)


# The activation variants and the terminal ansatz repeat the structure of other cases:
# their engine-vs-AD comparisons run with the slow tests.
_SLOW_EXACT = {"mlp-sin", "mlp-silu", "mlp-callable", "terminal-value"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW_EXACT else n for n in sorted(FIELDS)],
)
def test_exact_operators_match_nested_ad(name, getkey):
    field = FIELDS[name](getkey())
    x = 0.4 * jax.random.normal(getkey(), (field.in_size,))
    ops = (stde.Laplacian(), stde.DiagonalDerivative(4))
    # One engine pass for both operators (one compilation); references likewise.
    est = eqx.filter_jit(lambda u, x: stde.evaluate(ops, u, x).estimate)(field, x)
    ref = eqx.filter_jit(lambda u, x: jnp.stack([_laplacian_ref(u, x), _diag4_ref(u, x)]))(field, x)
    assert jnp.allclose(est, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", [pytest.param("ball", marks=pytest.mark.slow), "clamped-ball"])
def test_exact_biharmonic_matches_nested_ad(name, getkey):
    u = FIELDS[name](getkey())
    x = 0.4 * jax.random.normal(getkey(), (u.in_size,))
    est = eqx.filter_jit(lambda u, x: stde.estimate(stde.Biharmonic(), u, x))(u, x)
    ref = _biharmonic_ref(u, x)
    assert jnp.allclose(est, ref, rtol=1e-9)


def test_ansatz_constraints(getkey):
    net = models.MLP(4, 16, 3, key=getkey())
    x = jax.random.normal(getkey(), (4,))
    on_sphere = 2.0 * x / jnp.linalg.norm(x)
    ball = models.Constrained(net, stde.BallAnsatz(radius=2.0))
    assert jnp.abs(ball(on_sphere)) < 1e-12
    clamped = models.Constrained(net, stde.BallAnsatz(radius=2.0, power=2))
    assert jnp.abs(clamped(on_sphere)) < 1e-12
    assert jnp.linalg.norm(jax.grad(clamped)(on_sphere)) < 1e-12
    assert jnp.linalg.norm(jax.grad(ball)(on_sphere)) > 1e-6
    # Initial and terminal data hold exactly; time is the last coordinate.
    ivp = models.Constrained(net, stde.InitialValueAnsatz(_g))
    assert jnp.allclose(ivp(x.at[-1].set(0.0)), _g(x[:-1]), rtol=1e-14)
    box = FIELDS["initial-value-box"](getkey())
    assert jnp.allclose(box(x.at[-1].set(0.0)), _g(x[:-1]), rtol=1e-14)
    low, high = box.ansatz.box
    for i in range(3):  # Each face of the box, at a nonzero time: u = g there as well.
        for face in (low[i], high[i]):
            y = x.at[i].set(face).at[-1].set(0.7)
            assert jnp.allclose(box(y), _g(y[:-1]), rtol=1e-14)
    assert not jnp.allclose(box(x.at[-1].set(0.7)), _g(x[:-1]))
    evolved = models.Constrained(net, stde.EvolvedInitialValueAnsatz(_g))  # g sees (x, t)
    assert jnp.allclose(evolved(x.at[-1].set(0.0)), _g(x.at[-1].set(0.0)), rtol=1e-14)
    tvp = models.Constrained(net, stde.TerminalValueAnsatz(_g, final_time=0.3))
    assert jnp.allclose(tvp(x.at[-1].set(0.3)), _g(x[:-1]), rtol=1e-14)
    assert not jnp.allclose(tvp(x.at[-1].set(0.0)), _g(x[:-1]))
    # Periodic in coordinates 0 and 2 with period 2, not in coordinate 1.
    per = FIELDS["periodic"](getkey())
    assert jnp.allclose(per(x), per(x.at[0].add(2.0)), rtol=1e-12)
    assert jnp.allclose(per(x), per(x.at[2].add(-4.0)), rtol=1e-12)
    assert not jnp.allclose(per(x), per(x.at[1].add(2.0)))
    assert not jnp.allclose(per(x), per(x.at[0].add(1.0)))


def test_periodic_embedding_values():
    emb = models.PeriodicEmbedding(3, (1,), period=2.0, num_frequencies=2)
    x = jnp.array([0.3, 0.25, -0.7])
    expected = jnp.array(
        [0.3, -0.7, jnp.cos(jnp.pi * 0.25), jnp.cos(2 * jnp.pi * 0.25)]
        + [jnp.sin(jnp.pi * 0.25), jnp.sin(2 * jnp.pi * 0.25)]
    )
    assert emb.out_size == 6
    assert jnp.allclose(emb(x), expected, rtol=1e-14)


def test_kaiming_uniform_init(getkey):
    net = models.MLP(300, 128, 4, key=getkey())
    gain = 5.0 / 3.0
    for layer, fan_in in zip(net.layers, [300, 128, 128, 128], strict=True):
        bound = gain * math.sqrt(3.0 / fan_in)
        w = np.asarray(layer.weight)
        assert np.all(np.abs(w) <= bound)
        assert np.abs(w).max() > 0.95 * bound
        assert np.allclose(np.var(w), bound**2 / 3, rtol=0.2)
        assert np.all(np.asarray(layer.bias) == 0)
    assert net.layers[-1](jnp.ones(128)).shape == ()
    assert [lay.weight.shape for lay in net.layers] == [
        (128, 300),
        (128, 128),
        (128, 128),
        (1, 128),
    ]
    sin = models.MLP(10, 8, 2, "sin", key=getkey())
    assert np.abs(np.asarray(sin.layers[0].weight)).max() <= math.sqrt(3.0 / 10)


def test_float32_follows_dtype(getkey):
    net = models.MLP(3, 8, 2, dtype=jnp.float32, key=getkey())
    assert net(jnp.ones(3, jnp.float32)).dtype == jnp.float32


def test_shared_mlp_parameter_count_independent_of_dim(getkey):
    def count(m):
        return sum(p.size for p in jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array)))

    key = getkey()
    small = models.SharedMLP(10, 5, 32, 4, key=key)
    large = models.SharedMLP(10_000, 5, 32, 4, key=key)
    assert count(small) == count(large) == 5 * 32 + 32 + 2 * (32 * 32 + 32) + 32 + 1
    assert count(models.MLP(10_000, 32, 4, key=key)) > 300_000


def test_shared_mlp_equals_dense_with_tiled_weight(getkey):
    d, b = 12, 3
    shared = models.SharedMLP(d, b, 16, 3, key=getkey())
    dense = models.MLP(d, 16, 3, key=getkey())
    tiled = jnp.tile(shared.layers[0].weight, (1, d // b))
    dense = eqx.tree_at(
        lambda m: m.layers,
        dense,
        (eqx.tree_at(lambda lin: lin.weight, shared.layers[0], tiled),) + shared.layers[1:],
    )
    assert dense.layers[0].weight.shape == (16, d)
    xs = jax.random.normal(getkey(), (4, d))
    assert jnp.allclose(jax.vmap(shared)(xs), jax.vmap(dense)(xs), rtol=1e-12)
    assert jnp.allclose(jax.grad(shared)(xs[0]), jax.grad(dense)(xs[0]), rtol=1e-10)


def test_window_mlp_is_a_sum_over_windows_read_out_per_window(getkey):
    # Independent reference: a Python loop over the windows, each through the shared
    # layers and its own slice of the readout.
    d, w, m, scale = 7, 3, 2, 1.5
    net = _window(getkey(), d, w, 8, 3, m, scale)
    act = jnp.tanh
    x = jax.random.normal(getkey(), (d,))
    total = net.readout.bias[0]
    for i in range(d - w + 1):
        h = scale * x[i : i + w]
        for layer in net.layers:
            h = act(layer.weight @ h + layer.bias)
        total = total + net.readout.weight[0, i * m : (i + 1) * m] @ h
    assert jnp.allclose(net(x), total, rtol=1e-12)
    # One window as wide as the input: an MLP with an extra linear readout.
    whole = _window(getkey(), d, d, 8, 3, 1, 1.0)
    assert whole.readout.weight.shape == (1, 1)


def test_window_mlp_starts_constant_and_its_parameters_do_not_grow_with_width_times_dim(getkey):
    net = models.WindowMLP(1000, 2, 16, 3, 4, key=getkey())
    xs = jax.random.normal(getkey(), (3, 1000))
    assert jnp.all(jax.vmap(net)(xs) == 0.0)
    count = sum(p.size for p in jax.tree_util.tree_leaves(eqx.filter(net, eqx.is_array)))
    # shared 2 -> 16 -> 4, readout 999 windows x 4 features -> 1
    assert count == (2 * 16 + 16) + (16 * 4 + 4) + (999 * 4 + 1)


def test_window_mlp_resized_keeps_the_shared_mlp_at_another_input_size(getkey):
    # Reference: the source network read out at its first window only; the resized one,
    # read out the same way, computes that window's g at the new scale.
    d, w, m = 7, 3, 2
    net = _window(getkey(), d, w, 8, 3, m, 1.5)
    big = net.resized(12, scale=3.0)
    assert (big.in_size, big.scale, big.window, big.features) == (12, 3.0, w, m)
    assert big.readout.weight.shape == (1, (12 - w + 1) * m)
    x = jax.random.normal(getkey(), (12,))
    assert big(x) == 0.0  # new readouts, at zero
    first = jnp.zeros_like(big.readout.weight).at[0, :m].set(net.readout.weight[0, :m])
    big = eqx.tree_at(lambda n: n.readout.weight, big, first)
    one = jnp.zeros_like(net.readout.weight).at[0, :m].set(net.readout.weight[0, :m])
    small = eqx.tree_at(lambda n: (n.readout.weight, n.readout.bias), net, (one, jnp.zeros(1)))
    y = jnp.zeros(d).at[:w].set(x[:w] * 3.0 / 1.5)  # the same window inputs at scale 1.5
    assert jnp.allclose(big(x), small(y), rtol=1e-12)
    with pytest.raises(ValueError, match="needs `window <= in_size`"):
        net.resized(2, scale=1.0)


def test_window_mlp_centred_reads_out_g_minus_its_value_at_zero(getkey):
    # Reference: the uncentred network with the same parameters, less the readout applied
    # to g(0) in every window, a constant: the same derivatives, the value shifted.
    d, w, m = 7, 3, 2
    net = _window(getkey(), d, w, 8, 3, m, 1.5)
    net = eqx.tree_at(lambda n: n.readout.weight, net, jax.random.normal(getkey(), (1, 5 * m)))
    # Nonzero biases (they start at zero, and then g(0) = 0), as after training.
    biases = [jax.random.normal(getkey(), layer.bias.shape) for layer in net.layers]
    net = eqx.tree_at(lambda n: [layer.bias for layer in n.layers], net, biases)
    cen = models.WindowMLP(d, w, 8, 3, m, scale=1.5, centred=True, key=getkey())
    cen = eqx.tree_at(lambda n: (n.layers, n.readout), cen, (net.layers, net.readout))
    g0 = jnp.zeros(w)
    for layer in net.layers:
        g0 = jnp.tanh(layer.weight @ g0 + layer.bias)
    shift = sum(net.readout.weight[0, i * m : (i + 1) * m] @ g0 for i in range(d - w + 1))
    x = jax.random.normal(getkey(), (d,))
    assert jnp.allclose(cen(x), net(x) - shift, rtol=1e-12)
    assert not jnp.allclose(cen(x), net(x))
    hess = jax.hessian(net)(x)
    assert jnp.allclose(jax.hessian(cen)(x), hess, rtol=1e-12)
    # The engine's exact Laplacian (row-sparse jets) of the centred network: its trace.
    lap = stde.estimate(stde.Laplacian(), cen, x)
    assert jnp.allclose(lap, jnp.trace(hess), rtol=1e-10)
    assert cen.hyperparameters()["centred"] is True
    assert net.resized(9, scale=1.0).centred is False
    assert cen.resized(9, scale=1.0).centred is True
    assert net.resized(9, scale=1.0, centred=True).centred is True


def test_with_radial_adds_a_times_the_squared_norm(getkey):
    # Reference: the network's own value plus a |x|^2 by hand, and nested autodiff for the
    # Laplacian of the whole ansatz (the engine's exact Laplacian keeps the coordinate
    # tangents sparse through the added term).
    net = models.MLP(5, 8, 2, key=getkey())
    rad = models.WithRadial(net)
    x = 0.4 * jax.random.normal(getkey(), (5,))
    assert rad(x) == net(x) and rad.weight == 0.0  # a starts at zero
    rad = eqx.tree_at(lambda m: m.weight, rad, jnp.asarray(1.7))
    assert jnp.allclose(rad(x), net(x) + 1.7 * jnp.sum(x**2), rtol=1e-12)
    u = models.Constrained(rad, stde.BallAnsatz())
    lap = stde.estimate(stde.Laplacian(), u, x)
    assert jnp.allclose(lap, jnp.trace(jax.hessian(u)(x)), rtol=1e-10)
    # a is outside every linear layer: trained with everything, frozen with the output layer.
    assert models.trainable_spec(u, "all").net.weight
    assert not models.trainable_spec(u, "last").net.weight
    assert rad.hyperparameters() == dict(net=net, dtype="float64")


def test_squared_norm_appends_the_mean_square_of_the_leading_coordinates(getkey):
    # Reference: the feature by hand, and nested autodiff for the spatial Laplacian of a
    # network behind it in an initial-value ansatz (the engine pushes the coordinate
    # tangents through the appended square).
    emb = models.SquaredNorm(4, 3)
    x = jnp.array([0.3, -1.2, 0.5, 0.25])
    assert emb.out_size == 5
    assert jnp.allclose(emb(x), jnp.append(x, (0.09 + 1.44 + 0.25) / 3), rtol=1e-14)
    net = models.Embedded(emb, models.MLP(5, 8, 3, key=getkey()))
    u = models.Constrained(net, stde.InitialValueAnsatz(lambda y: jnp.sum(jnp.sin(y))))
    hess = jax.hessian(u)(x)
    lap = stde.estimate(stde.Laplacian(3), u, x)
    assert jnp.allclose(lap, jnp.trace(hess[:3, :3]), rtol=1e-10)
    assert emb.hyperparameters() == dict(in_size=4, num_coords=3)


def test_shared_mlp_requires_divisible_dim(getkey):
    with pytest.raises(
        ValueError, match="`in_size` divisible by `block_size`.*in_size=10, block_size=3"
    ):
        models.SharedMLP(10, 3, key=getkey())


def test_wrong_shape_raises(getkey):
    net = models.Constrained(models.MLP(3, 8, 2, key=getkey()), stde.BallAnsatz())
    with pytest.raises(ValueError, match=r"`x` must have shape \(3,\), got \(4,\)"):
        net(jnp.ones(4))
    with pytest.raises(ValueError, match=r"`x` must have shape \(3,\), got \(2, 3\).*jax.vmap"):
        eqx.filter_jit(lambda m, x: m(x))(net, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="`x` must be a floating-point"):
        net(jnp.ones(3, jnp.int32))


def test_bad_constructor_arguments(getkey):
    with pytest.raises(ValueError, match="`activation` must be one of"):
        models.MLP(3, activation="relu6", key=getkey())
    with pytest.raises(ValueError, match="`depth` must be an int >= 1"):
        models.MLP(3, depth=0, key=getkey())
    with pytest.raises(ValueError, match="`coords` must be"):
        models.PeriodicEmbedding(2, (2,))
    with pytest.raises(ValueError, match="`net.in_size` must equal `embedding.out_size` = 3"):
        models.Embedded(models.PeriodicEmbedding(2, (0,)), models.MLP(2, key=getkey()))
    with pytest.raises(ValueError, match="needs `net.in_size` >= 2"):
        models.Constrained(models.MLP(1, key=getkey()), stde.InitialValueAnsatz(jnp.sin))
    with pytest.raises(ValueError, match="`net.in_size` must equal `embedding.out_size` = 6"):
        models.Embedded(models.FourierFeatures(2, 3, key=getkey()), models.MLP(2, key=getkey()))


def _tanh2(z):
    t = jnp.tanh(z)
    return -2 * t * (1 - t**2)


@pytest.mark.parametrize("shared", [False, True])
def test_sparse_laplacian_at_dimension_1e5(shared, getkey):
    # Depth 2: u = w2 . tanh(W1 s + b1) + b2, with s = x (dense) or the block sum (shared),
    # so u_jj = sum_k w2_k tanh''(z_k) W1[k, j mod B]^2 is known in closed form for every j.
    # With one sample the estimate must be d * u_jj for one of those j.
    d, b = 100_000, 10
    key = getkey()
    net = models.SharedMLP(d, b, 16, 2, key=key) if shared else models.MLP(d, 16, 2, key=key)
    x = jax.random.normal(getkey(), (d,)) / math.sqrt(d)
    first, last = net.layers
    s = x.reshape(d // b, b).sum(0) if shared else x
    h2 = jnp.sum(
        (last.weight[0] * _tanh2(first.weight @ s + first.bias))[:, None] * first.weight**2, 0
    )

    @eqx.filter_jit
    def one(net, x, key):
        return stde.estimate(stde.Laplacian(), net, x, estimator=stde.SparseSTDE(1), key=key)

    for _ in range(3):
        est = one(net, x, getkey())
        assert jnp.min(jnp.abs(est / d - h2)) < 1e-9 * jnp.max(jnp.abs(h2))
    lap16 = eqx.filter_jit(
        lambda net, x, key: stde.estimate(
            stde.Laplacian(), net, x, estimator=stde.SparseSTDE(16), key=key
        )
    )(net, x, getkey())
    assert jnp.isfinite(lap16)
    assert jnp.abs(lap16) <= d * jnp.max(jnp.abs(h2)) * (1 + 1e-9)
