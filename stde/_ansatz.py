"""Hard-constraint ansatzes: $u = \\text{base}(x) + \\text{factor}(x)\\,N(x)$, one final
class per kind.

They sit in `stde`, the one layer that both `pdes` and `models` import, so that there is
one description of each kind: a PDE declares its ansatz (`pde.ansatz`, one of these),
`models.Constrained(net, ansatz)` wraps a network in it, and the trivial fit and the
evaluation read `factor` and `base` from the same object. Nothing translates between
vocabularies. Time, for the time-dependent kinds, is the last input coordinate.

Every field is static: an ansatz adds no leaves to a model that holds it, so a model's
saved parameters do not depend on which ansatz wraps it.
"""

import abc
from collections.abc import Callable, Sequence
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from equinox import AbstractClassVar

from ._checks import check_number
from ._custom_types import Point, Scalar


def _callable(fn, where: str) -> Callable:
    if not callable(fn):
        raise ValueError(f"`{where}`: `condition` must be a callable, got {type(fn).__name__}.")
    return fn


def _sq_norm(x):
    # sum(x * x) rather than dot(x, x): a dot_general with the input on both sides is a
    # bilinear primitive the Taylor engine need not support; mul and reduce_sum it does.
    return jnp.sum(x * x)


class AbstractAnsatz(eqx.Module):
    """A hard constraint $u = \\text{base}(x) + \\text{factor}(x)\\,N(x)$ on a field
    network $N$: the boundary, initial or terminal data hold exactly, whatever $N$ is.

    Subclasses are final and implement `factor`, `base` and `fit_formula`; `apply` is
    the same for every kind (a zero base adds exactly nothing to the field's values). `pdes` PDEs
    declare one as `pde.ansatz`; `models.Constrained(net, ansatz)` is the network in it.
    `needs_time`: whether the ansatz reads time as the last input coordinate.
    """

    needs_time: AbstractClassVar[bool]

    @abc.abstractmethod
    def factor(self, x: Point) -> Scalar:
        """The factor multiplying the network at one input point `x`."""

    @abc.abstractmethod
    def base(self, x: Point) -> Scalar:
        """The part of the field that does not depend on the network, at one point `x`."""

    @abc.abstractmethod
    def fit_formula(self) -> str:
        """The best one-scalar fit $\\text{base} + K\\,\\text{factor}$ as text (the trivial
        fit's label in summaries and plots), e.g. `"K (1 - |x|^2)"` or `"g(x) + K t"`."""

    def apply(self, net: Callable[[Point], Scalar], x: Point) -> Scalar:
        """$\\text{base}(x) + \\text{factor}(x)\\,N(x)$ for the field `net` $= N$."""
        return self.base(x) + self.factor(x) * net(x)


class BallAnsatz(AbstractAnsatz):
    """$u = (1 - |x|^2/R^2)^p\\,N(x)$: zero on the sphere $|x| = R$ (Dirichlet); with
    $p = 2$ also $\\partial_n u = 0$ (a clamped plate, for the biharmonic equation).
    $|x|$ is over the whole input: for time-independent PDEs."""

    needs_time: ClassVar[bool] = False

    radius: float = eqx.field(static=True)
    power: int = eqx.field(static=True)

    def __init__(self, radius: float = 1.0, power: int = 1):
        """**Arguments:** `radius` $R$ of the ball; `power` $p$, 1 (Dirichlet) or 2
        (clamped)."""
        self.radius = check_number(radius, "radius", sign="positive", where="`BallAnsatz`")
        if power not in (1, 2) or isinstance(power, bool):
            raise ValueError(f"`BallAnsatz`: `power` must be 1 or 2, got {power!r}.")
        self.power = power

    def factor(self, x: Point) -> Scalar:
        b = 1 - _sq_norm(x) / self.radius**2
        # No `b ** 1`: an integer_pow the field never needed, in every traced derivative.
        return b if self.power == 1 else b**self.power

    def base(self, x: Point) -> Scalar:
        return jnp.zeros((), x.dtype)

    def fit_formula(self) -> str:
        shell = "1 - |x|^2" if self.radius == 1 else "1 - |x|^2/R^2"
        formula = f"K ({shell})" + ("^2" if self.power == 2 else "")
        return formula if self.radius == 1 else f"{formula} with R = {self.radius:.4g}"


class InitialValueAnsatz(AbstractAnsatz):
    """$u = g(x) + t\\,N(x, t)$: $u(\\cdot, 0) = g$ exactly.

    With a `period` $P$, the spatial coordinates are periodic: a network built for this
    ansatz sees them through $(\\cos 2\\pi x/P, \\sin 2\\pi x/P)$ (`models.PeriodicEmbedding`),
    so the field is exactly periodic too.

    With a `box` $\\prod_i [a_i, b_i]$, $u = g$ also holds on the box's faces at every time
    (Dirichlet data that do not change in time, e.g. zero):
    $u = g(x) + t\\,B(x)\\,N(x, t)$ with
    $B(x) = \\prod_i 4 (x_i - a_i)(b_i - x_i) / (b_i - a_i)^2$, 1 at the box's centre: for
    an equation whose initial data alone do not fix the solution."""

    needs_time: ClassVar[bool] = True

    condition: Callable = eqx.field(static=True)
    period: float | None = eqx.field(static=True)
    box: tuple[tuple[float, ...], tuple[float, ...]] | None = eqx.field(static=True)

    def __init__(
        self,
        condition: Callable,
        period: float | None = None,
        box: tuple[Sequence[float], Sequence[float]] | None = None,
    ):
        """**Arguments:** `condition` $g$, a callable of the spatial point `x[:-1]`;
        `period` of the spatial coordinates, or None if they are not periodic; `box`
        `(low, high)`, one bound per spatial coordinate, where $u = g$ on the faces, or
        None (not with a `period`)."""
        where = "`InitialValueAnsatz`"
        self.condition = _callable(condition, "InitialValueAnsatz")
        if period is not None:
            period = check_number(period, "period", sign="positive", where=where)
        self.period = period
        if box is not None:
            if period is not None:
                raise ValueError(f"{where}: give `period` or `box`, not both.")
            try:
                low, high = (tuple(check_number(v, "box", where=where) for v in b) for b in box)
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f"{where}: `box` must be `(low, high)`, two sequences of numbers "
                    f"(one per spatial coordinate), got {box!r}."
                ) from e
            if not low or len(low) != len(high) or not all(a < b for a, b in zip(low, high)):
                raise ValueError(
                    f"{where}: `box` must have one bound per spatial coordinate in `low` "
                    f"and `high`, each low < high, got {box!r}."
                )
            box = (low, high)
        self.box = box

    def factor(self, x: Point) -> Scalar:
        if self.box is None:
            return x[-1]
        low, high = self.box
        if x.shape[0] != len(low) + 1:
            raise ValueError(
                f"`InitialValueAnsatz`: `box` bounds inputs of {len(low) + 1} coordinates "
                f"(space, then time), got an input of {x.shape[0]}."
            )
        out = x[-1]
        # A product of scalars, one coordinate at a time: polynomial, so every derivative
        # the engine propagates through it is exact and cheap.
        for i, (a, b) in enumerate(zip(low, high)):
            out = out * (4 / (b - a) ** 2) * (x[i] - a) * (b - x[i])
        return out

    def base(self, x: Point) -> Scalar:
        return jnp.asarray(self.condition(x[:-1]), x.dtype)

    def fit_formula(self) -> str:
        return "g(x) + K t" if self.box is None else "g(x) + K t B(x)"


class EvolvedInitialValueAnsatz(AbstractAnsatz):
    """$u = h(x, t) + t\\,N(x, t)$ with $h(\\cdot, 0) = g$ the initial condition: a base
    of the whole input, e.g. $g$ carried by the heat flow, smooth for $t > 0$ where $g$
    has kinks."""

    needs_time: ClassVar[bool] = True

    condition: Callable = eqx.field(static=True)

    def __init__(self, condition: Callable):
        """**Arguments:** `condition` $h$, a callable of the whole input `x` (space, then
        time)."""
        self.condition = _callable(condition, "EvolvedInitialValueAnsatz")

    def factor(self, x: Point) -> Scalar:
        return x[-1]

    def base(self, x: Point) -> Scalar:
        return jnp.asarray(self.condition(x), x.dtype)

    def fit_formula(self) -> str:
        return "h(x, t) + K t"


class TerminalValueAnsatz(AbstractAnsatz):
    """$u = g(x) + (T - t)\\,N(x, t)$: $u(\\cdot, T) = g$ exactly (e.g. HJB, BSB)."""

    needs_time: ClassVar[bool] = True

    condition: Callable = eqx.field(static=True)
    final_time: float = eqx.field(static=True)

    def __init__(self, condition: Callable, final_time: float):
        """**Arguments:** `condition` $g$, a callable of the spatial point `x[:-1]`;
        `final_time` $T$."""
        self.condition = _callable(condition, "TerminalValueAnsatz")
        where = "`TerminalValueAnsatz`"
        self.final_time = check_number(final_time, "final_time", sign="positive", where=where)

    def factor(self, x: Point) -> Scalar:
        return self.final_time - x[-1]

    def base(self, x: Point) -> Scalar:
        return jnp.asarray(self.condition(x[:-1]), x.dtype)

    def fit_formula(self) -> str:
        return "g(x) + K (T - t)"


class NoAnsatz(AbstractAnsatz):
    """$u = N(x)$: no hard constraint (boundary data, if any, are left to the loss)."""

    needs_time: ClassVar[bool] = False

    def factor(self, x: Point) -> Scalar:
        return jnp.ones((), x.dtype)

    def base(self, x: Point) -> Scalar:
        return jnp.zeros((), x.dtype)

    def fit_formula(self) -> str:
        return "K"
