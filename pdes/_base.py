"""The abstract PDE, the hard-constraint ansatz description, and shared validation."""

import abc
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from equinox import AbstractClassVar, AbstractVar
from jaxtyping import Array, Float

from ._custom_types import Key, Point, Points, Scalar, ScalarField

ANSATZ_KINDS = (
    "ball",
    "clamped-ball",
    "initial-value",
    "terminal-value",
    "periodic-initial-value",
    "none",
)


def check_point(x, size: int, name: str = "x", where: str = "") -> Array:
    """Return `x` as an array of shape `(size,)`, or raise a `ValueError` at trace time."""
    x = jnp.asarray(x)
    prefix = f"{where}: " if where else ""
    if x.shape != (size,):
        raise ValueError(
            f"{prefix}`{name}` must have shape ({size},), got {x.shape}. Pass one point at a "
            "time; use `jax.vmap` for a batch."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{prefix}`{name}` must be a floating-point array, got {x.dtype}.")
    return x


def check_points(x, size: int, name: str = "x", where: str = "") -> Array:
    """Return `x` as an array of shape `(n, size)`, or raise a `ValueError`."""
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != size:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}`{name}` must have shape (n, {size}), got {x.shape}.")
    return x


def check_count(n, name: str = "n", where: str = "") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}`{name}` must be a positive int, got {n!r}.")
    return n


class Ansatz(eqx.Module):
    """Which hard-constraint ansatz fits a PDE, and the data it needs.

    With $N$ the network, $x$ the spatial and $t$ the time coordinate:

    - `"ball"`: $u = (1 - |x|^2/R^2) N$ (Dirichlet zero on the sphere of radius `radius`);
    - `"clamped-ball"`: $u = (1 - |x|^2/R^2)^2 N$ (also $\\partial_n u = 0$);
    - `"initial-value"`: $u = g(x) + t N$ with `condition` $= g$;
    - `"terminal-value"`: $u = g(x) + (T - t) N$, $T$ = `final_time`;
    - `"periodic-initial-value"`: as `"initial-value"`, and $N$ should see $x$ only through
      $(\\cos(2\\pi x/P), \\sin(2\\pi x/P))$ with $P$ = `period`;
    - `"none"`: $u = N$.

    Every kind is $u = \\text{base}(x) + \\text{factor}(x) N(x)$; `base` and `factor` give the
    two pieces (used for the one-scalar trivial fit, see `pdes.trivial_rel_l2`).
    """

    kind: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    radius: float | None = eqx.field(static=True, default=None)
    final_time: float | None = eqx.field(static=True, default=None)
    period: float | None = eqx.field(static=True, default=None)
    condition: Callable | None = None

    def __check_init__(self):
        if self.kind not in ANSATZ_KINDS:
            raise ValueError(f"`kind` must be one of {ANSATZ_KINDS}, got {self.kind!r}.")

    def factor(self, x: Point) -> Scalar:
        """The factor multiplying the network at one input point `x`."""
        spatial = x[: self.dim]
        if self.kind in ("ball", "clamped-ball"):
            b = 1 - jnp.sum(spatial**2) / self.radius**2
            return b if self.kind == "ball" else b**2
        if self.kind in ("initial-value", "periodic-initial-value"):
            return x[self.dim]
        if self.kind == "terminal-value":
            return self.final_time - x[self.dim]
        return jnp.ones((), x.dtype)

    def base(self, x: Point) -> Scalar:
        """The part of the ansatz that does not depend on the network."""
        if self.condition is None:
            return jnp.zeros((), x.dtype)
        return self.condition(x[: self.dim])


class AbstractPDE(eqx.Module):
    """A PDE with its domain, sampler and exact or reference solution.

    Inputs are points of $\\mathbb{R}^{\\text{input\\_dim}}$: the `dim` spatial
    coordinates, then time last for time-dependent PDEs. Subclasses are final; they set
    `exact_solution` to a method or to `None` (then `reference_solution` is the truth).
    """

    name: AbstractVar[str]
    dim: AbstractVar[int]
    seed: AbstractVar[int]
    time_dependent: AbstractClassVar[bool]
    # `residual` returns shape `residual_shape` per point; `()` except for the
    # gradient-enhanced KdV. The loss is the mean over points of the sum of squares.
    residual_shape: ClassVar[tuple[int, ...]] = ()

    @property
    def input_dim(self) -> int:
        return self.dim + int(self.time_dependent)

    @property
    @abc.abstractmethod
    def ansatz(self) -> Ansatz:
        """The recommended hard-constraint ansatz."""

    @abc.abstractmethod
    def params(self) -> dict:
        """Parameters beyond name, dim and seed, as a JSON-able dict."""

    @abc.abstractmethod
    def _residual(self, u, x, estimator, key) -> Array: ...

    @abc.abstractmethod
    def _sample_interior(self, key, n) -> Array: ...

    @abc.abstractmethod
    def _solution(self, x) -> Array:
        """The exact solution, or the reference where there is no closed form."""

    def config(self) -> dict:
        """A JSON-able dict such that `pdes.get(**pde.config())` rebuilds this PDE."""
        return {"name": self.name, "dim": self.dim, "seed": self.seed, "params": self.params()}

    def residual(
        self, u: ScalarField, x: Point, *, estimator=None, key: Key | None = None
    ) -> Float[Array, "*residual"]:
        """The residual of the candidate solution `u` at one point.

        **Arguments:**

        - `u`: a scalar field $\\mathbb{R}^{\\text{input\\_dim}} \\to \\mathbb{R}$.
        - `x`: one point, shape `(input_dim,)`.
        - `estimator`: a `stde` estimator; `None` means `stde.Exact()`.
        - `key`: PRNG key, needed by stochastic estimators.

        **Returns:** an array of shape `residual_shape` (a scalar for all but the
        gradient-enhanced KdV); zero for the exact solution.
        """
        import stde

        x = check_point(x, self.input_dim, where=f"`{type(self).__name__}.residual`")
        if estimator is None:
            estimator = stde.Exact()
        return self._residual(u, x, estimator, key)

    def sample_interior(self, key: Key, n: int) -> Points:
        """`n` collocation points of the interior, shape `(n, input_dim)`; seeded by `key`."""
        check_count(n, where=f"`{type(self).__name__}.sample_interior`")
        return self._sample_interior(key, n)

    def reference_solution(self, x: Point) -> Scalar:
        """The true solution at one point: closed form where known, else the reference."""
        x = check_point(x, self.input_dim, where=f"`{type(self).__name__}.reference_solution`")
        return self._solution(x)


def exact_method(pde: AbstractPDE, x) -> Array:
    """The body of `exact_solution` for PDEs with a closed form: validate, then evaluate."""
    x = check_point(x, pde.input_dim, where=f"`{type(pde).__name__}.exact_solution`")
    return pde._solution(x)
