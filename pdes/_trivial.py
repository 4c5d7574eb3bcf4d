"""The one-scalar trivial fit: the honesty baseline next to every reported error (docs/faq.md)."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Shaped

import stde
from stde._checks import check_points

from ._base import AbstractPDE


class TrivialFitStats(eqx.Module):
    """Running sums for the best fit $u \\approx \\text{base} + K\\,\\text{factor}$.

    With $\\rho = u - \\text{base}$ and $\\phi$ = factor, the least-squares $K$ is
    $\\sum\\phi\\rho / \\sum\\phi^2$ and the squared error left is
    $\\sum\\rho^2 - (\\sum\\phi\\rho)^2 / \\sum\\phi^2$, so four sums suffice and batches
    combine with `+`. Sums are kept in float64 on the host: the subtraction cancels to
    about (rel-L2)^2, which float32 sums cannot resolve at rel-L2 ~ 1e-3.
    """

    s_ff: float = 0.0
    s_fr: float = 0.0
    s_rr: float = 0.0
    s_uu: float = 0.0
    count: int = 0

    def __add__(self, other: "TrivialFitStats") -> "TrivialFitStats":
        return TrivialFitStats(
            self.s_ff + other.s_ff,
            self.s_fr + other.s_fr,
            self.s_rr + other.s_rr,
            self.s_uu + other.s_uu,
            self.count + other.count,
        )

    @property
    def scale(self) -> float:
        """The fitted constant $K$."""
        return self.s_fr / self.s_ff if self.s_ff > 0 else 0.0

    @property
    def rel_l2(self) -> float:
        """$\\|u - \\text{base} - K\\phi\\| / \\|u\\|$ over every point seen."""
        if self.s_uu == 0:  # no points, or u = 0 everywhere: undefined, as in `zoo.evaluate`
            return math.inf
        sq = self.s_rr - (self.s_fr**2 / self.s_ff if self.s_ff > 0 else 0.0)
        return float(np.sqrt(max(sq, 0.0) / self.s_uu))


def _check_finite(a, name: str, where: str) -> None:
    if not jnp.issubdtype(a.dtype, jnp.floating):
        raise ValueError(f"{where}: `{name}` must be a floating-point array, got {a.dtype}.")
    # One reduction where the array lives (device for `x`): no copy of the batch to the host.
    bad = int(a.size - jnp.count_nonzero(jnp.isfinite(a)))
    if bad:
        raise ValueError(
            f"{where}: `{name}` must be finite, got {bad} non-finite value(s) (NaN or inf)."
        )


@eqx.filter_jit
def _parts(pde, x, with_reference: bool):
    # Jitted: op by op, the reference solution alone takes seconds at n x d = 2e7.
    ansatz = pde.ansatz
    u = jax.vmap(pde.reference_solution)(x) if with_reference else None
    return jax.vmap(ansatz.factor)(x), jax.vmap(ansatz.base)(x), u


def trivial_fit_stats(
    pde: AbstractPDE,
    # Loose on purpose: shape, dtype and finiteness are checked below with clear messages.
    x: Shaped[Array, "..."],
    u: Shaped[Array, "..."] | None = None,
) -> TrivialFitStats:
    """The sums of `TrivialFitStats` over one batch of test points.

    **Arguments:** `pde`; `x` test points `(n, input_dim)`; `u` the true values there,
    default `pde.reference_solution` at each point.
    """
    where = "`trivial_fit_stats`"
    x = check_points(x, pde.input_dim, where=where)
    # Host-side (the sums below are float64 numpy), so a finiteness check costs nothing
    # extra here, unlike in the jitted evaluation paths.
    _check_finite(x, "x", where)
    if u is None and len(x):
        # One eager call first: references computed lazily and cached (the 1D KdV's
        # spectral solve) must be computed outside a trace.
        pde.reference_solution(x[0])
    phi, base, u_ref = _parts(pde, x, u is None)
    phi, base = np.asarray(phi, np.float64), np.asarray(base, np.float64)
    u = np.asarray(u_ref if u is None else u)
    if u.shape != phi.shape:
        raise ValueError(f"{where}: `u` must have shape {phi.shape}, got {u.shape}.")
    _check_finite(u, "u", where)
    u = u.astype(np.float64)
    rho = u - base
    return TrivialFitStats(
        float(phi @ phi), float(phi @ rho), float(rho @ rho), float(u @ u), len(u)
    )


def trivial_fit_formula(ansatz: stde.AbstractAnsatz) -> str:
    """The trivial fit of `ansatz` as a formula in one fitted scalar $K$: `base + K factor`.

    `"K (1 - |x|^2)"` for the unit ball, `"g(x) + K t"` for an initial-value ansatz (the
    initial condition is kept, only the multiple of `t` is fitted), `"K"` without an ansatz
    (`ansatz.fit_formula()`). One description for summaries, plots and examples.
    """
    if not isinstance(ansatz, stde.AbstractAnsatz):
        raise ValueError(f"`ansatz` must be a `stde.AbstractAnsatz`, got {ansatz!r}.")
    return ansatz.fit_formula()


def trivial_rel_l2(
    pde: AbstractPDE, x: Shaped[Array, "..."], u: Shaped[Array, "..."] | None = None
) -> float:
    """Rel-L2 of the best one-scalar fit $\\text{base} + K\\,\\text{factor}$ of the ansatz.

    For the ball PDEs this is $K(1 - |x|^2)$, for initial-value PDEs $g(x) + K t$ (see
    `trivial_fit_formula`). For streaming, sum `trivial_fit_stats`
    over batches and read `.rel_l2`.
    """
    stats = trivial_fit_stats(pde, x, u)
    if stats.count == 0:
        raise ValueError("`trivial_rel_l2`: `x` must hold at least one point, got none.")
    return stats.rel_l2
