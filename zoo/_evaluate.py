"""Streamed evaluation of a model against the PDE's true solution.

Test point `i` is `pde.sample_interior(fold_in(key, i), 1)[0]`: the test set depends on
the key and the count only, not on the batch size, and no more than one batch of points
exists at a time (20 000 points at d = 1e5 would be 8 GB at once). Per batch, the
device returns four vectors (prediction, truth, ansatz factor and base); the host
accumulates float64 sums for

- rel-L2 $= \\sqrt{\\sum (u - u^*)^2 / \\sum u^{*2}}$ and the max-norm $\\max |u - u^*|$;
- the one-scalar trivial fit's rel-L2 from `pdes.research.TrivialFitStats` (docs/faq.md).

The model sees the points in its own dtype; the truth is computed in float64 at those same
points. A float32 truth carries its own rounding, which is not small beside the errors a
good solver reaches: on the three-body Poisson solution at d = 1000 (PDE seed 3) it alone
is 0.053 of the trivial fit, and models scored against it there read 0.08-0.14 of the
trivial fit where against the float64 truth they are at 0.02-0.09.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import pdes
from stde._checks import check_int

# Largest number of test-point coordinates materialised at once when the batch size is
# chosen automatically (2e7 floats: 80 MB in float32).
_AUTO_COORDINATES = 20_000_000


def count(value, name: str, *, optional: bool = False):
    """`value` as a Python int >= 1 (NumPy integer scalars and integral NumPy floats are
    accepted); None passes when `optional`.

    **Raises:** `ValueError` naming `name` otherwise.
    """
    number = value
    if isinstance(value, np.floating) and float(value).is_integer():
        number = int(value)
    elif isinstance(value, np.integer):
        number = int(value)
    return check_int(number, name, optional=optional)


def auto_batch(input_dim: int, requested: int | None, n: int) -> int:
    if requested is not None:
        return min(count(requested, "batch_size"), n)
    return max(1, min(n, 2000, _AUTO_COORDINATES // input_dim))


def sample(pde, key, n: int, dtype) -> jax.Array:
    """`pde.sample_interior(key, n)` drawn in `dtype` whatever `jax_enable_x64` says.

    The random bits behind a float32 and a float64 draw differ, so without this a float32
    run would see other points with 64-bit JAX enabled than without.
    """
    with jax.enable_x64(jnp.dtype(dtype) == jnp.float64):
        x = pde.sample_interior(key, n)
    return x.astype(dtype)


def test_points(pde, key, indices, dtype) -> jax.Array:
    """Test points number `indices` of the stream keyed by `key`, shape `(len, input_dim)`."""
    return jax.vmap(lambda i: sample(pde, jax.random.fold_in(key, i), 1, dtype)[0])(indices)


def reference_values(pde, x: jax.Array, batch_size: int | None = None) -> jax.Array:
    """`pde.reference_solution` at each row of `x`, jitted and evaluated `batch_size`
    points at a time (default as `stream_errors` chooses). Op by op, 201 points at
    d = 1e5 held 36 times their own memory (2.9 GB) for 16 s, and at d = 1e6 the slice
    plot took a run's peak from 16 GB to the 24 GB of a two-core machine."""
    _warm_reference(pde, x[0])
    return _references(pde, x, auto_batch(pde.input_dim, batch_size, len(x)))


@eqx.filter_jit
def _references(pde, x, batch_size: int):
    return jax.lax.map(pde.reference_solution, x, batch_size=batch_size)


def _warm_reference(pde, x) -> None:
    # One eager evaluation first: references computed lazily and cached (the 1D KdV's
    # spectral solve) must be computed outside a trace.
    pde.reference_solution(x)


@eqx.filter_jit
def _batch(model, pde, key, indices, dtype):
    x = test_points(pde, key, indices, dtype)
    return x, jax.vmap(model)(x)


@eqx.filter_jit
def _truth(pde, x):
    ansatz = pde.ansatz
    return (
        jax.vmap(pde.reference_solution)(x),
        jax.vmap(ansatz.factor)(x),
        jax.vmap(ansatz.base)(x),
    )


def _truth64(pde, x) -> tuple:
    """The solution, ansatz factor and base at the points `x` (any float dtype), computed
    in float64 (64-bit JAX for this call only)."""
    with jax.enable_x64(True):
        return _truth(pde, jnp.asarray(x, jnp.float64))


def stream_errors(model, pde, *, n: int, key, batch_size: int | None = None, dtype=None) -> dict:
    """Errors of `model` against the PDE's solution on `n` streamed test points (the
    model in `dtype`, default its own; the solution in float64 at the same points).

    **Returns:** a dict with `rel_l2`, `trivial_rel_l2`, `linf` (max-norm of the error),
    `rel_linf` (`linf` over the max-norm of the solution) and `n_points`.
    """
    n = count(n, "n_points")
    batch_size = count(batch_size, "batch_size", optional=True)
    if dtype is None:
        dtype = _model_dtype(model)
    bs = auto_batch(pde.input_dim, batch_size, n)
    x0 = test_points(pde, key, jnp.arange(1), dtype)[0]
    with jax.enable_x64(True):
        _warm_reference(pde, jnp.asarray(x0, jnp.float64))
    sq_err = sq_true = 0.0
    linf = true_inf = 0.0
    trivial = pdes.research.TrivialFitStats()
    for start in range(0, n, bs):
        # Fixed-size batches (the tail's extra points are computed and dropped) compile once.
        m = min(bs, n - start)
        indices = jnp.arange(start, start + bs)
        x, u = _batch(model, pde, key, indices, dtype)
        outs = (u, *_truth64(pde, x))
        u, ustar, phi, base = (np.asarray(o, np.float64)[:m] for o in outs)
        if not np.all(np.isfinite(ustar)):
            bad = int(np.sum(~np.isfinite(ustar)))
            raise ValueError(
                f"the solution of `{pde.name}` is not finite (NaN or inf) at {bad} of the "
                f"test points {start}..{start + m - 1}: the errors cannot be computed."
            )
        err = u - ustar
        sq_err += float(err @ err)
        sq_true += float(ustar @ ustar)
        # `max` would drop a NaN (nan > x is False): NaN errors stay NaN.
        linf = float(np.max([linf, np.max(np.abs(err))]))
        true_inf = max(true_inf, float(np.max(np.abs(ustar))))
        rho = ustar - base
        trivial = trivial + pdes.research.TrivialFitStats(
            float(phi @ phi), float(phi @ rho), float(rho @ rho), float(ustar @ ustar), m
        )
    rel = math.sqrt(sq_err / sq_true) if sq_true > 0 else math.inf
    return {
        "rel_l2": rel,
        "trivial_rel_l2": trivial.rel_l2 if sq_true > 0 else math.inf,
        "linf": linf,
        "rel_linf": linf / true_inf if true_inf > 0 else math.inf,
        "n_points": n,
    }


def point_errors(model, pde, reference: float | None, dtype=None) -> dict:
    """$u$ at `pde.reference_point` beside the reference value (None where there is none)."""
    if dtype is None:
        dtype = _model_dtype(model)
    x0 = jnp.asarray(pde.reference_point, dtype)
    value = float(eqx.filter_jit(model)(x0))
    out = {"u_reference_point": value, "reference_value": reference}
    if reference is not None:
        out["abs_error"] = abs(value - reference)
        out["rel_error"] = abs(value - reference) / abs(reference)
    return out


def _model_dtype(model):
    leaves = [x for x in jax.tree_util.tree_leaves(model) if eqx.is_inexact_array(x)]
    return leaves[0].dtype if leaves else jnp.float32
