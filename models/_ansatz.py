"""Hard-constraint ansatzes: wrap a field network so that boundary/initial data hold exactly."""

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp

from ._base import AbstractField
from ._custom_types import Point, Scalar
from ._embeddings import PeriodicEmbedding
from ._misc import check_finite_float, check_point, check_positive_float


def _sq_norm(x):
    # sum(x * x) rather than dot(x, x): a dot_general with the input on both sides is a
    # bilinear primitive the Taylor engine need not support; mul and reduce_sum it does.
    return jnp.sum(x * x)


def _check_radius(radius) -> float:
    return check_positive_float(radius, "radius")


def _check_g(g, where: str):
    if not callable(g):
        raise ValueError(
            f"`{where}(g=...)` must be a callable of the spatial point, got {type(g).__name__}."
        )
    return g


class BallAnsatz(AbstractField):
    """$u(x) = (1 - |x|^2 / r^2)\\, N(x)$: zero on the sphere $|x| = r$ (Dirichlet)."""

    net: AbstractField
    radius: float = eqx.field(static=True)

    def __init__(self, net: AbstractField, radius: float = 1.0):
        """**Arguments:** `net` $N$; `radius` $r$ of the ball."""
        self.net = net
        self.radius = _check_radius(radius)

    @property
    def in_size(self) -> int:
        return self.net.in_size

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="BallAnsatz")
        return (1 - _sq_norm(x) / self.radius**2) * self.net(x)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(net=self.net, radius=self.radius)


class ClampedBallAnsatz(AbstractField):
    """$u(x) = (1 - |x|^2 / r^2)^2\\, N(x)$: $u = 0$ and $\\partial_n u = 0$ on $|x| = r$
    (clamped plate, for the biharmonic equation)."""

    net: AbstractField
    radius: float = eqx.field(static=True)

    def __init__(self, net: AbstractField, radius: float = 1.0):
        """**Arguments:** `net` $N$; `radius` $r$ of the ball."""
        self.net = net
        self.radius = _check_radius(radius)

    @property
    def in_size(self) -> int:
        return self.net.in_size

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="ClampedBallAnsatz")
        return (1 - _sq_norm(x) / self.radius**2) ** 2 * self.net(x)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(net=self.net, radius=self.radius)


class InitialValueAnsatz(AbstractField):
    """$u(x, t) = g(x) + (t - t_0)\\, N(x, t)$: $u(\\cdot, t_0) = g$ exactly.

    The input is $(x, t)$ with time the last coordinate; `net` sees the whole input and `g`
    the spatial part `x[:-1]`, or with `full_input=True` the whole input: then
    $u = g(x, t) + (t - t_0) N$, for a base that is the initial condition at $t_0$ only
    (e.g. carried by the heat flow, smooth where the initial condition is not). `g` is a
    static callable, so a model holding it is saved with `models.save` and loaded with
    `models.load(path, like=skeleton)`.
    """

    net: AbstractField
    g: Callable = eqx.field(static=True)
    t0: float = eqx.field(static=True)
    full_input: bool = eqx.field(static=True)

    def __init__(self, net: AbstractField, g: Callable, t0: float = 0.0, full_input: bool = False):
        """**Arguments:** `net` $N$ on the full input (space + time); `g`, maps the spatial
        point (shape `(in_size - 1,)`), or the whole input if `full_input`, to a scalar;
        `t0`, the initial time."""
        if net.in_size < 2:
            raise ValueError(
                f"`InitialValueAnsatz` needs `net.in_size` >= 2 (space then time), got "
                f"{net.in_size}."
            )
        self.net = net
        self.g = _check_g(g, "InitialValueAnsatz")
        self.t0 = check_finite_float(t0, "t0")
        if not isinstance(full_input, bool):
            raise ValueError(f"`full_input` must be a bool, got {full_input!r}.")
        self.full_input = full_input

    @property
    def in_size(self) -> int:
        return self.net.in_size

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="InitialValueAnsatz")
        base = self.g(x if self.full_input else x[:-1])
        return jnp.asarray(base, x.dtype) + (x[-1] - self.t0) * self.net(x)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(net=self.net, g=self.g, t0=self.t0, full_input=self.full_input)


class TerminalValueAnsatz(AbstractField):
    """$u(x, t) = g(x) + (T - t)\\, N(x, t)$: $u(\\cdot, T) = g$ exactly (e.g. HJB, BSB).

    Time is the last input coordinate; `g` sees `x[:-1]`; `g` is static, as in
    `InitialValueAnsatz`.
    """

    net: AbstractField
    g: Callable = eqx.field(static=True)
    T: float = eqx.field(static=True)

    def __init__(self, net: AbstractField, g: Callable, T: float):
        """**Arguments:** `net` $N$ on the full input; `g` on the spatial part; `T`, the
        terminal time."""
        if net.in_size < 2:
            raise ValueError(
                f"`TerminalValueAnsatz` needs `net.in_size` >= 2 (space then time), got "
                f"{net.in_size}."
            )
        self.net = net
        self.g = _check_g(g, "TerminalValueAnsatz")
        self.T = check_finite_float(T, "T")

    @property
    def in_size(self) -> int:
        return self.net.in_size

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="TerminalValueAnsatz")
        return jnp.asarray(self.g(x[:-1]), x.dtype) + (self.T - x[-1]) * self.net(x)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(net=self.net, g=self.g, T=self.T)


class PeriodicAnsatz(AbstractField):
    """$u(x) = N(\\phi(x))$ with $\\phi$ a `models.PeriodicEmbedding`: exactly periodic in
    the chosen coordinates (e.g. KdV, $x \\in [-1, 1]$ periodic: `coords=(0,)`,
    `period=2`)."""

    embedding: PeriodicEmbedding
    net: AbstractField

    def __init__(
        self,
        net: AbstractField,
        in_size: int,
        coords: Sequence[int],
        period: float = 2.0,
        num_frequencies: int = 1,
    ):
        """**Arguments:** `net` $N$, whose `in_size` must be `PeriodicEmbedding(in_size,
        coords, period, num_frequencies).out_size` (`in_size - m + 2 m K`); `in_size`, the
        model's input size; the rest as `models.PeriodicEmbedding`."""
        embedding = PeriodicEmbedding(in_size, coords, period, num_frequencies)
        if net.in_size != embedding.out_size:
            raise ValueError(
                f"`PeriodicAnsatz`: `net.in_size` must be {embedding.out_size} (in_size - m + "
                f"2 m K with m={len(embedding.coords)}, K={num_frequencies}), got {net.in_size}."
            )
        self.embedding = embedding
        self.net = net

    @property
    def in_size(self) -> int:
        return self.embedding.in_size

    def __call__(self, x: Point) -> Scalar:
        return self.net(self.embedding(x))

    def hyperparameters(self) -> dict[str, Any]:
        e = self.embedding
        return dict(
            net=self.net,
            in_size=e.in_size,
            coords=e.coords,
            period=e.period,
            num_frequencies=e.num_frequencies,
        )
