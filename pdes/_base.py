"""The abstract PDE, the hard-constraint ansatz description, and shared validation."""

import abc
import math
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from equinox import AbstractClassVar, AbstractVar
from jaxtyping import Array, Float

from ._custom_types import Key, Point, Points, Scalar, ScalarField

ANSATZ_KINDS = (
    "ball",
    "clamped-ball",
    "initial-value",
    "evolved-initial-value",
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


def check_count(n, name: str = "n", where: str = "", minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        prefix = f"{where}: " if where else ""
        expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{prefix}`{name}` must be {expected}, got {n!r}.")
    return n


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be an int >= 0, got {seed!r}.")
    return seed


def check_positive(value, name: str, allow_zero: bool = False) -> float:
    """`value` as a float, or a `ValueError` unless it is finite and positive (or zero)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        expected = ">= 0 and finite" if allow_zero else "positive and finite"
        raise ValueError(f"`{name}` must be {expected}, got {value!r}.")
    return float(value)


def check_key(key, name: str = "key", where: str = "") -> None:
    """A `ValueError` unless `key` is one PRNG key; shapes and dtypes only, so jit-safe."""
    is_array = isinstance(key, jax.Array)
    typed = is_array and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()
    raw = is_array and key.dtype == jnp.uint32 and key.shape in ((2,), (4,))
    if not (typed or raw):
        prefix = f"{where}: " if where else ""
        shown = f"an array of shape {key.shape} and dtype {key.dtype}" if is_array else key
        raise ValueError(
            f"{prefix}`{name}` must be one PRNG key (`jax.random.key(seed)` or "
            f"`jax.random.PRNGKey(seed)`), got {shown!r}."
        )


class Ansatz(eqx.Module):
    """Which hard-constraint ansatz fits a PDE, and the data it needs.

    With $N$ the network, $x$ the spatial and $t$ the time coordinate:

    - `"ball"`: $u = (1 - |x|^2/R^2) N$ (Dirichlet zero on the sphere of radius `radius`);
    - `"clamped-ball"`: $u = (1 - |x|^2/R^2)^2 N$ (also $\\partial_n u = 0$);
    - `"initial-value"`: $u = g(x) + t N$ with `condition` $= g$;
    - `"evolved-initial-value"`: $u = h(x, t) + t N$ with `condition` $= h$, a function of
      the whole input with $h(\\cdot, 0) = g$ (e.g. $g$ carried by the heat flow, smooth for
      $t > 0$ where $g$ has kinks);
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
        check_count(self.dim, name="dim", where="`Ansatz`")
        # Each kind reads one extra number in `factor`: demand it here, not at trace time.
        needs = {
            "ball": "radius",
            "clamped-ball": "radius",
            "terminal-value": "final_time",
            "periodic-initial-value": "period",
        }.get(self.kind)
        if needs is not None:
            value = getattr(self, needs)
            if value is None:
                raise ValueError(
                    f"`Ansatz(kind={self.kind!r})` needs `{needs}`: positive and finite, got None."
                )
            check_positive(value, needs)

    def factor(self, x: Point) -> Scalar:
        """The factor multiplying the network at one input point `x`."""
        spatial = x[: self.dim]
        if self.kind in ("ball", "clamped-ball"):
            b = 1 - jnp.sum(spatial**2) / self.radius**2
            return b if self.kind == "ball" else b**2
        if self.kind in ("initial-value", "evolved-initial-value", "periodic-initial-value"):
            return x[self.dim]
        if self.kind == "terminal-value":
            return self.final_time - x[self.dim]
        return jnp.ones((), x.dtype)

    def base(self, x: Point) -> Scalar:
        """The part of the ansatz that does not depend on the network."""
        if self.condition is None:
            return jnp.zeros((), x.dtype)
        if self.kind == "evolved-initial-value":
            return self.condition(x)
        return self.condition(x[: self.dim])


class AbstractPDE(eqx.Module):
    """A PDE with its domain, sampler and exact or reference solution.

    Inputs are points of $\\mathbb{R}^{\\text{input_dim}}$: the `dim` spatial
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

        - `u`: a scalar field $\\mathbb{R}^{\\text{input_dim}} \\to \\mathbb{R}$.
        - `x`: one point, shape `(input_dim,)`.
        - `estimator`: a `stde` estimator; `None` means `stde.Exact()`.
        - `key`: PRNG key, needed by stochastic estimators.

        **Returns:** an array of shape `residual_shape` (a scalar for all but the
        gradient-enhanced KdV); zero for the exact solution.
        """
        import stde

        where = f"`{type(self).__name__}.residual`"
        x = check_point(x, self.input_dim, where=where)
        if not callable(u):
            raise ValueError(
                f"{where}: `u` must be a callable scalar field, got {type(u).__name__}."
            )
        out = jax.eval_shape(u, x)
        if getattr(out, "shape", None) != ():
            raise ValueError(
                f"{where}: `u` must return a scalar, got shape {getattr(out, 'shape', type(out))} "
                f"for `x` of shape {x.shape}."
            )
        if key is not None:
            check_key(key, where=where)
        if estimator is None:
            estimator = stde.Exact()
        return self._residual(u, x, estimator, key)

    def sample_interior(self, key: Key, n: int) -> Points:
        """`n` collocation points of the interior, shape `(n, input_dim)`; seeded by `key`."""
        where = f"`{type(self).__name__}.sample_interior`"
        check_key(key, where=where)
        check_count(n, where=where)
        return self._sample_interior(key, n)

    def reference_solution(self, x: Point) -> Scalar:
        """The true solution at one point: closed form where known, else the reference."""
        x = check_point(x, self.input_dim, where=f"`{type(self).__name__}.reference_solution`")
        return self._solution(x)


def exact_method(pde: AbstractPDE, x) -> Array:
    """The body of `exact_solution` for PDEs with a closed form: validate, then evaluate."""
    x = check_point(x, pde.input_dim, where=f"`{type(pde).__name__}.exact_solution`")
    return pde._solution(x)
