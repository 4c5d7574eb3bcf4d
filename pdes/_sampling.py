"""Samplers: ball, sphere, box, and collocation points along Brownian paths (diffrax)."""

import functools
import math
from numbers import Real

import diffrax
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Float

from ._custom_types import Key

SAMPLINGS = ("radius", "volume")


def check_sampling(sampling: str) -> str:
    if sampling not in SAMPLINGS:
        raise ValueError(f"`sampling` must be one of {SAMPLINGS}, got {sampling!r}.")
    return sampling


def _check_sampler(where: str, n, dim, radius) -> None:
    for name, value in (("n", n), ("dim", dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: `{name}` must be a positive int, got {value!r}.")
    # A traced radius cannot be checked at trace time; a concrete one can.
    if isinstance(radius, Real) and not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"{where}: `radius` must be positive and finite, got {radius!r}.")


def sample_sphere(key: Key, n: int, dim: int, radius: float = 1.0) -> Float[Array, "n dim"]:
    """Uniform on the sphere $|x| = R$ (normalised Gaussians); memory O(n d)."""
    _check_sampler("`sample_sphere`", n, dim, radius)
    v = jax.random.normal(key, (n, dim))
    return radius * v / jnp.linalg.norm(v, axis=1, keepdims=True)


def sample_ball(
    key: Key, n: int, dim: int, radius: float = 1.0, sampling: str = "radius"
) -> Float[Array, "n dim"]:
    """Direction uniform on the sphere; $r \\sim U[0, 1]$ (`"radius"`, the published
    protocol) or $r = U^{1/d}$ (`"volume"`, uniform in volume), times `radius`."""
    _check_sampler("`sample_ball`", n, dim, radius)
    check_sampling(sampling)
    kdir, kr = jax.random.split(key)
    r = jax.random.uniform(kr, (n, 1))
    if sampling == "volume":
        r = r ** (1.0 / dim)
    return r * sample_sphere(kdir, n, dim, radius)


def sample_box(key: Key, n: int, low, high) -> Float[Array, "n dim"]:
    low, high = jnp.asarray(low, float), jnp.asarray(high, float)
    return low + (high - low) * jax.random.uniform(key, (n,) + low.shape)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def brownian_grid(key: Key, num_paths: int, dim: int, final_time: float, num_times: int):
    """Standard Brownian paths $W$ in $\\mathbb{R}^d$ at the times $T k / m$, $k = 1..m$.

    Solved with diffrax as $dY = dW$ (Euler is exact for additive noise), driven by a
    `VirtualBrownianTree` so that the same key gives the same paths at any resolution.
    Returns `(ts, W)` with shapes `(m,)` and `(num_paths, m, dim)`.
    """
    # Pin the last time to t1 exactly: T * m / m may round above T, which diffrax rejects.
    ts = (final_time * jnp.arange(1, num_times + 1) / num_times).at[-1].set(final_time)
    dt = final_time / num_times

    def one_path(k):
        bm = diffrax.VirtualBrownianTree(0.0, final_time, tol=dt / 16, shape=(dim,), key=k)
        term = diffrax.ControlTerm(
            lambda t, y, args: lx.DiagonalLinearOperator(jnp.ones_like(y)), bm
        )
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Euler(),
            0.0,
            final_time,
            dt,
            jnp.zeros(dim),
            saveat=diffrax.SaveAt(ts=ts),
            max_steps=num_times + 1,
        )
        return sol.ys

    return ts, jax.vmap(one_path)(jax.random.split(key, num_paths))


def brownian_points(
    key: Key,
    n: int,
    dim: int,
    final_time: float,
    num_times: int,
    transform,
) -> Float[Array, "n input_dim"]:
    """`n` points $(x, t)$ with $x$ = `transform(W_s, s)` along Brownian paths.

    `transform(w, s) -> (x, t)` maps the Brownian value at path time $s$ to a space-time
    point; ceil(n / num_times) paths are simulated and the first `n` points kept.
    """
    num_paths = math.ceil(n / num_times)
    ts, w = brownian_grid(key, num_paths, dim, final_time, num_times)
    s = jnp.broadcast_to(ts[None, :], w.shape[:2])
    x, t = jax.vmap(jax.vmap(transform))(w, s)
    pts = jnp.concatenate([x, t[..., None]], axis=-1).reshape(-1, dim + 1)
    return pts[:n]
