"""Samplers: ball, sphere, box, and collocation points along Brownian paths (diffrax)."""

import functools
import math
from numbers import Real

import diffrax
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from stde._checks import check_int

from ._custom_types import Key

SAMPLINGS = ("radius", "volume")


def check_sampling(sampling: str) -> str:
    if sampling not in SAMPLINGS:
        raise ValueError(f"`sampling` must be one of {SAMPLINGS}, got {sampling!r}.")
    return sampling


def _check_sampler(where: str, n, dim, radius) -> None:
    check_int(n, "n", where=where)
    check_int(dim, "dim", where=where)
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
    """Standard Brownian paths $W$ in $\\mathbb{R}^d$, each observed at `num_times` times,
    one drawn uniformly in each slice $[T k / m, T (k + 1) / m)$, $k = 0..m-1$.

    Stratified random times, not a fixed grid: with a grid $T k / m$, $k \\ge 1$, no point
    comes near $s = 0$, where in high `dim` the paths are still near their start (in
    d = 100, $|\\sqrt{2} W_{T/m}| \\approx 2.4$), so a quantity of interest there (the
    parabolic PDEs' $u(0, T)$, HJB's $u(0, 0)$) would be an extrapolation. $W$ comes from
    a diffrax `VirtualBrownianTree`, so the same key gives the same path at any times.
    Returns `(s, W)` with shapes `(num_paths, m)` and `(num_paths, m, dim)`.
    """
    k_times, k_paths = jax.random.split(key)
    u = jax.random.uniform(k_times, (num_paths, num_times))
    s = final_time * (jnp.arange(num_times) + u) / num_times

    def one_path(k, times):
        bm = diffrax.VirtualBrownianTree(
            0.0, final_time, tol=final_time / 2**12, shape=(dim,), key=k
        )
        return jax.vmap(lambda t: bm.evaluate(0.0, t))(times)

    return s, jax.vmap(one_path)(jax.random.split(k_paths, num_paths), s)


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
    s, w = brownian_grid(key, num_paths, dim, final_time, num_times)
    x, t = jax.vmap(jax.vmap(transform))(w, s)
    pts = jnp.concatenate([x, t[..., None]], axis=-1).reshape(-1, dim + 1)
    return pts[:n]
