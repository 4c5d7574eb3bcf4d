"""One benchmark cell: build a training step for (case, engine, d), compile it, time it.

Imported only inside the cell subprocess, so the driver never initialises an accelerator
(which would hold GPU memory the cells need).
"""

import math
import resource
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import jet

import models
import stde

# KdV gradient-enhanced residual needs these partials of u(x, t) (x = coordinate 0,
# t = coordinate 1): r = u_t + u u_x + nu u_xxx and its x- and t-derivatives.
KDV_NU = 0.0025
KDV_INDICES = {
    "t": (1,),
    "x": (0,),
    "xx": (0, 0),
    "tt": (1, 1),
    "tx": (0, 1),
    "xxx": (0, 0, 0),
    "xxxx": (0, 0, 0, 0),
    "txxx": (0, 0, 0, 1),
}


def forcing(x):
    # Stand-in for the analytic forcing f = L u*: O(d) per point like the real one, but
    # cheap, since the forcing's cost is not what is measured.
    return jnp.mean(jnp.sin(x))


def sample_ball(key, batch, d):
    # The published protocol: direction uniform on the sphere, radius r ~ U[0, 1].
    kg, kr = jax.random.split(key)
    g = jax.random.normal(kg, (batch, d))
    r = jax.random.uniform(kr, (batch, 1))
    return r * g / jnp.linalg.norm(g, axis=1, keepdims=True)


def sample_kdv(key, batch, d):
    lo, hi = jnp.array([-1.0, 0.0]), jnp.array([1.0, 1.0])
    return jax.random.uniform(key, (batch, 2), minval=lo, maxval=hi)


def nested_directional(fn, x, v, order):
    """$D^k f(x)[v, \\ldots, v]$ by first-order AD only: forward^(k-1) over reverse."""
    g = lambda y: jnp.dot(jax.grad(fn)(y), v)
    for _ in range(order - 1):
        g = (lambda h: lambda y: jax.jvp(h, (y,), (v,))[1])(g)
    return g(x)


def published_laplacian(fn, x, key, num):
    """Baseline (a), the published formulation: a full shuffle per point and materialised
    identity rows pushed through `jax.experimental.jet` as 2-jets (v, 0)."""
    d = x.shape[0]
    idx = jax.random.choice(key, d, (num,), replace=False)
    rows = jnp.eye(d, dtype=x.dtype)[idx]

    def y2(v):
        _, (_, second) = jet.jet(fn, (x,), ((v, jnp.zeros_like(v)),))
        return second

    return d / num * jnp.sum(jax.vmap(y2)(rows))


def _estimate(op, estimator, engine=None):
    return lambda fn, x, key: stde.estimate(op, fn, x, estimator=estimator, key=key, engine=engine)


def _sdgd(reference, num):
    def lap(fn, x, key):
        d = x.shape[0]
        idx = jax.random.randint(key, (num,), 0, d)
        return d / num * reference(fn, x, idx)

    return lap


def _nested_biharmonic(num):
    # Gaussian v: E[D^4 u[v, v, v, v]] = 3 * biharmonic.
    def op(fn, x, key):
        v = jax.random.normal(key, (num, x.shape[0]), x.dtype)
        return jnp.mean(jax.vmap(lambda w: nested_directional(fn, x, w, 4))(v)) / 3

    return op


def _nested_diagonal4(num):
    def op(fn, x, key):
        d = x.shape[0]
        idx = jax.random.randint(key, (num,), 0, d)
        e = jax.nn.one_hot(idx, d, dtype=x.dtype)
        return d / num * jnp.sum(jax.vmap(lambda w: nested_directional(fn, x, w, 4))(e))

    return op


def _folx(fn, x, key):
    return stde.reference.forward_laplacian(fn, x)


def _evaluate(op, estimator):
    def f(fn, x, key):
        ev = stde.evaluate(op, fn, x, estimator=estimator, key=key)
        return ev.value, ev.estimate

    return f


def operators(case, num):
    """engine name -> `op(fn, x, key)` giving the operator estimate at one point, plus
    whether the key is shared by the whole batch (one J per step) instead of per point."""
    sparse, jet_engine = stde.SparseSTDE(num), stde.JetEngine()
    if case == "laplacian":
        lap = stde.Laplacian()
        return {
            "stde": (_estimate(lap, sparse), False),
            # u from the engine's own primal pass (what `stde.evaluate` returns), instead
            # of the separate forward pass every other engine needs.
            "stde-value": (_evaluate(lap, sparse), False),
            "stde-shared-J": (_estimate(lap, sparse), True),
            "stde-jet": (_estimate(lap, sparse, jet_engine), False),
            "jet-shared-J": (_estimate(lap, sparse, jet_engine), True),
            "published": (lambda fn, x, key: published_laplacian(fn, x, key, num), False),
            "dense": (_estimate(lap, stde.DenseSTDE(num, "rademacher")), False),
            "fwd-over-rev": (_sdgd(stde.reference.laplacian_fwd_over_rev, num), False),
            "rev-over-rev": (_sdgd(stde.reference.laplacian_rev_over_rev, num), False),
            "folx": (_folx, False),
        }
    if case == "order4":
        bih, diag4 = stde.Biharmonic(), stde.DiagonalDerivative(4)
        gauss = stde.DenseSTDE(num, "gaussian")
        return {
            "biharm-dense": (_estimate(bih, gauss), False),
            "biharm-dense-jet": (_estimate(bih, gauss, jet_engine), False),
            "biharm-nested": (_nested_biharmonic(num), False),
            "diag4-stde": (_estimate(diag4, sparse), False),
            "diag4-stde-jet": (_estimate(diag4, sparse, jet_engine), False),
            "diag4-nested": (_nested_diagonal4(num), False),
        }
    if case == "mixed":
        ops = tuple(stde.Partial(i) for i in KDV_INDICES.values())
        return {
            "stde": (lambda fn, x, key: stde.evaluate(ops, fn, x).estimate, False),
            "stde-jet": (
                lambda fn, x, key: stde.evaluate(ops, fn, x, engine=jet_engine).estimate,
                False,
            ),
            "nested": (
                lambda fn, x, key: jnp.stack(
                    [stde.reference.partial(fn, i)(x) for i in KDV_INDICES.values()]
                ),
                False,
            ),
        }
    raise ValueError(f"unknown case {case!r}")


def make_model(case, d, width, depth, block_size, key):
    if case == "mixed":
        return models.MLP(2, width=width, depth=depth, key=key)
    if block_size:
        # Weight sharing keeps the parameter count (and Adam's state) independent of d.
        net = models.SharedMLP(d, math.gcd(d, block_size), width=width, depth=depth, key=key)
    else:
        net = models.MLP(d, width=width, depth=depth, key=key)
    # Biharmonic / 4th order: the clamped-plate ansatz; Laplacian: the Dirichlet one.
    return models.Constrained(net, stde.BallAnsatz(power=2 if case == "order4" else 1))


def make_loss(case, engine, num, batch, forcing=forcing):
    """loss(model, xs, key) for one step; `forcing(x)` (default: the stand-in) is the
    Laplacian cases' right-hand side."""
    if engine == "floor":
        # Plain supervised step: same model and points, no derivatives.
        def floor(model, xs, key):
            return jnp.mean((jax.vmap(model)(xs) - jax.vmap(forcing)(xs)) ** 2)

        return floor
    op, shared = operators(case, num)[engine]

    def residual_terms(model, xs, key):
        # `u` by a separate forward pass for every engine alike; XLA's CSE merges it with
        # the primal pass inside the engine where they coincide.
        u = None if engine.endswith("-value") else jax.vmap(model)(xs)
        if shared:
            est = jax.vmap(lambda x: op(model, x, key))(xs)
        else:
            est = jax.vmap(lambda x, k: op(model, x, k))(xs, jax.random.split(key, batch))
        if isinstance(est, tuple):  # the engine returned u from its own pass
            u, est = est
        return u, est

    if case == "mixed":

        def kdv(model, xs, key):
            u, est = residual_terms(model, xs, key)
            p = dict(zip(KDV_INDICES, est.T))
            r = p["t"] + u * p["x"] + KDV_NU * p["xxx"]
            r_x = p["tx"] + p["x"] ** 2 + u * p["xx"] + KDV_NU * p["xxxx"]
            r_t = p["tt"] + p["t"] * p["x"] + u * p["tx"] + KDV_NU * p["txxx"]
            return jnp.mean(r**2 + r_x**2 + r_t**2)

        return kdv

    def pde(model, xs, key):
        u, est = residual_terms(model, xs, key)
        f = jax.vmap(forcing)(xs)
        if case == "laplacian":  # Allen-Cahn: Δu + u - u^3 = f
            return jnp.mean((est + u - u**3 - f) ** 2)
        return jnp.mean((est - f) ** 2)

    return pde


def _peak_mb():
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20, "device-peak"
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss"


def build(
    case, engine, d, *, batch, num, width, depth, block_size, seed, forcing=forcing, sample=None
):  # fmt: skip
    """The cell's training step, jitted: `steps(n)` runs `n` steps dispatched back to back
    (updating the state it holds) and returns the last loss, not waited for. `forcing(x)`
    and `sample(key, batch, d)` replace the stand-in forcing and the case's sampler (the
    trainer-speed benchmark passes a preset's)."""
    kmodel, kstep = jax.random.split(jax.random.key(seed))
    model = make_model(case, d, width, depth, block_size, kmodel)
    params, static = eqx.partition(model, eqx.is_array)
    opt = optax.adam(optax.linear_schedule(1e-3, 0.0, 10_000))
    opt_state = opt.init(params)
    loss_fn = make_loss(case, engine, num, batch, forcing)
    if sample is None:
        sample = sample_kdv if case == "mixed" else sample_ball

    def step(params, opt_state, key):
        # The key travels with the state, so no per-step host work picks it.
        key, kx, kl = jax.random.split(key, 3)
        xs = sample(kx, batch, d)
        loss, grads = jax.value_and_grad(lambda p: loss_fn(eqx.combine(p, static), xs, kl))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, key, loss

    # Donation lets XLA update parameters and Adam's state in place, as a training loop would.
    step = jax.jit(step, donate_argnums=(0, 1, 2))
    key = kstep

    def steps(n):
        nonlocal params, opt_state, key
        loss = None
        for _ in range(n):
            params, opt_state, key, loss = step(params, opt_state, key)
        return loss

    return steps


def run(
    case, engine, d, *, batch, num, width, depth, block_size, windows, window_s, seed,
    forcing=forcing, sample=None,
):  # fmt: skip
    """Compile and time one cell (`build`); returns the result row as a dict."""
    base_mb, mem_kind = _peak_mb()
    steps = build(
        case, engine, d, batch=batch, num=num, width=width, depth=depth,
        block_size=block_size, seed=seed, forcing=forcing, sample=sample,
    )  # fmt: skip
    t0 = time.perf_counter()
    loss = jax.block_until_ready(steps(1))  # compile + first step
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(steps(2))
    per_step = (time.perf_counter() - t0) / 2
    # Steps per window chosen so a window lasts about `window_s`; blocking only at window
    # ends keeps dispatch asynchronous, as in a training loop.
    n = max(1, round(window_s / per_step))
    rates = []
    for _ in range(windows):
        t0 = time.perf_counter()
        loss = jax.block_until_ready(steps(n))
        rates.append(n / (time.perf_counter() - t0))
    peak_mb, mem_kind = _peak_mb()
    return dict(
        its_per_s=float(np.median(rates)),
        its_min=float(min(rates)),
        its_max=float(max(rates)),
        steps_per_window=n,
        compile_s=compile_s,
        peak_mb=peak_mb,
        base_mb=base_mb,
        mem_kind=mem_kind,
        loss_finite=bool(np.isfinite(loss)),
    )
