"""A user-defined PDE in a few lines."""

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

import stde
from stde._checks import check_int, check_number, check_point

from ._base import AbstractPDE
from ._custom_types import Point, Scalar
from ._sampling import sample_ball, sample_box

DOMAINS = ("ball", "box")


class CustomPDE(AbstractPDE):
    """$L u + N(u, \\nabla u) = f$ for a `stde` operator $L$, on a ball or a box.

    Example, Allen-Cahn with a manufactured solution (forcing derived from it):
    ```python
    pde = pdes.CustomPDE(
        dim=10,
        operator=stde.Laplacian(),
        nonlinearity=lambda u, grad: u - u**3,
        exact_solution=lambda x: (1 - x @ x) * jnp.sin(x[0]),
    )
    ```
    Time-dependent PDEs: `final_time=T` appends $t \\in [0, T]$ as the last input, and the
    operator refers to it by index `dim` (e.g. `stde.Partial((dim,))`).
    """

    name: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    operator: stde.AbstractOperator
    nonlinearity: Callable | None
    forcing_fn: Callable | None
    solution_fn: Callable | None
    needs_gradient: bool = eqx.field(static=True)
    domain: str = eqx.field(static=True)
    radius: float = eqx.field(static=True)
    bounds: tuple[float, float] = eqx.field(static=True)
    final_time: float | None = eqx.field(static=True)
    ansatz: stde.AbstractAnsatz
    # Holds Python callables: there is no name-and-parameters form for `pdes.get`.
    rebuildable = False

    def __init__(
        self,
        dim: int,
        operator: stde.AbstractOperator,
        *,
        nonlinearity: Callable | None = None,
        needs_gradient: bool = False,
        forcing: Callable | None = None,
        exact_solution: Callable | None = None,
        domain: str = "ball",
        radius: float = 1.0,
        bounds: tuple[float, float] = (-1.0, 1.0),
        final_time: float | None = None,
        ansatz: stde.AbstractAnsatz | None = None,
        name: str = "custom",
        seed: int = 0,
    ):
        """**Arguments:**

        - `dim`: spatial dimension; `operator`: the linear part $L$ (a `stde` operator).
        - `nonlinearity`: `(u, grad) -> scalar`, $N$; `grad` is $\\nabla u$ over all inputs
          when `needs_gradient=True`, else None. Default: none.
        - `forcing`: `x -> scalar`. Default: $L u^* + N(u^*)$ from `exact_solution`, else 0.
          In `residual` the manufactured forcing is estimated with the residual's own
          estimator and key, so the residual is $\\hat L_\\xi(u - u^*) + N(u) - N(u^*)$: an
          unbiased estimate of the exact residual that is exactly 0 at $u = u^*$ for every
          key, at the cost of one more evaluation of the estimator (the same jets, now of
          $u^*$, plus $\\nabla u^*$ by reverse mode when `needs_gradient`), whatever `dim`.
          `forcing(x)` itself is exact (`stde.Exact()`): for the Laplacian `dim` jets of
          $u^*$, so $O(\\text{dim})$ times the cost of $u^*$; use it for inspection, not
          in a training loop at large `dim`.
        - `exact_solution`: `x -> scalar` or None.
        - `domain`: `"ball"` (radius `radius`, sampled with $r \\sim U[0, 1]$) or `"box"`
          (every spatial coordinate in `bounds`); `final_time`: for time-dependent PDEs.
        - `ansatz`: the recommended ansatz, a `stde.AbstractAnsatz`; default
          `stde.BallAnsatz(radius)` for a time-independent ball domain, else
          `stde.NoAnsatz()`.
        """
        check_int(dim, "dim", where="`CustomPDE`")
        check_int(seed, "seed", minimum=0)
        if not isinstance(operator, stde.AbstractOperator):
            raise ValueError(
                "`operator` must be a `stde` operator such as `stde.Laplacian()`, got "
                f"{operator!r}."
            )
        if domain not in DOMAINS:
            raise ValueError(f"`domain` must be one of {DOMAINS}, got {domain!r}.")
        radius = check_number(radius, "radius", sign="positive")
        try:
            low, high = map(float, bounds)
        except (TypeError, ValueError):
            low = high = math.nan
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(
                f"`bounds` must be finite (low, high) with low < high, got {bounds!r}."
            )
        if final_time is not None:
            final_time = check_number(final_time, "final_time", sign="positive")
        for argument, fn in (
            ("nonlinearity", nonlinearity),
            ("forcing", forcing),
            ("exact_solution", exact_solution),
        ):
            if fn is not None and not callable(fn):
                raise ValueError(
                    f"`{argument}` must be a callable or None, got {type(fn).__name__}."
                )
        if ansatz is not None and not isinstance(ansatz, stde.AbstractAnsatz):
            raise ValueError(f"`ansatz` must be a `stde.AbstractAnsatz` or None, got {ansatz!r}.")
        if ansatz is not None and ansatz.needs_time and final_time is None:
            raise ValueError(
                f"`ansatz`: a `{type(ansatz).__name__}` reads time (the last coordinate), but "
                "the PDE has none: pass `final_time`."
            )
        if isinstance(ansatz, stde.BallAnsatz) and final_time is not None:
            # Its |x| runs over every input: time would count as a coordinate of the ball.
            raise ValueError(
                "`ansatz`: a `BallAnsatz` takes |x| over the whole input, time (the last "
                "coordinate) included, so it holds u = 0 on a sphere in space-time, not on "
                "the spatial boundary. For a time-dependent PDE use `stde.InitialValueAnsatz`, "
                "`stde.TerminalValueAnsatz` or `stde.NoAnsatz`."
            )
        self.name, self.dim, self.seed = name, dim, seed
        self.operator, self.nonlinearity, self.needs_gradient = (
            operator,
            nonlinearity,
            needs_gradient,
        )
        self.forcing_fn, self.solution_fn = forcing, exact_solution
        self.domain, self.radius, self.bounds = domain, float(radius), tuple(map(float, bounds))
        self.final_time = None if final_time is None else float(final_time)
        if ansatz is None:
            ball = domain == "ball" and final_time is None
            ansatz = stde.BallAnsatz(self.radius) if ball else stde.NoAnsatz()
        self.ansatz = ansatz

    @property
    def time_dependent(self) -> bool:
        return self.final_time is not None

    @property
    def has_exact_solution(self) -> bool:
        return self.solution_fn is not None

    @property
    def has_reference_solution(self) -> bool:
        return self.solution_fn is not None

    def params(self) -> dict:
        return {}

    def _solution(self, x):
        return self.solution_fn(x)

    def _lhs(self, u, x, estimator, key):
        ev = stde.evaluate(
            self.operator, u, x, estimator=estimator, key=key, gradient=self.needs_gradient
        )
        if self.nonlinearity is None:
            return ev.estimate
        return ev.estimate + self.nonlinearity(ev.value, ev.gradient)

    def forcing(self, x: Point) -> Scalar:
        """$f(x)$: the given `forcing`, else $L u^* + N(u^*)$ computed exactly (`dim` jets
        of $u^*$ for the Laplacian: slow at large `dim`; `residual` does not call it for
        a manufactured solution, see `__init__`), else 0."""
        x = check_point(x, self.input_dim, where="`CustomPDE.forcing`")
        if self.forcing_fn is not None:
            return self.forcing_fn(x)
        if self.solution_fn is not None:
            return self._lhs(self.solution_fn, x, stde.Exact(), None)
        return jnp.zeros((), x.dtype)

    def _residual(self, u, x, estimator, key):
        if self.forcing_fn is None and self.solution_fn is not None:
            # The same estimator and key for u and u*: the operator's estimate is linear in
            # the field, so this is L_xi(u - u*) + N(u) - N(u*), unbiased for
            # L(u - u*) + N(u) - N(u*) and 0 at u = u*. A per-point cache of the exact
            # forcing would not help: the collocation points are fresh every step.
            return self._lhs(u, x, estimator, key) - self._lhs(self.solution_fn, x, estimator, key)
        return self._lhs(u, x, estimator, key) - self.forcing(x)

    def _sample_interior(self, key, n):
        if self.domain == "ball":
            pts = sample_ball(key, n, self.dim, self.radius)
        else:
            lo, hi = self.bounds
            pts = sample_box(key, n, jnp.full(self.dim, lo), jnp.full(self.dim, hi))
        if self.final_time is None:
            return pts
        t = self.final_time * jax.random.uniform(jax.random.fold_in(key, 1), (n, 1))
        return jnp.concatenate([pts, t], axis=1)
