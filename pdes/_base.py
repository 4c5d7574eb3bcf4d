"""The abstract PDE (the contract every PDE keeps) and shared validation."""

import abc
from typing import ClassVar

import equinox as eqx
import jax
from equinox import AbstractClassVar, AbstractVar
from jaxtyping import Array, Float

import stde
from stde._checks import check_int, check_key, check_point

from ._custom_types import Key, Point, Points, Scalar, ScalarField


class AbstractPDE(eqx.Module):
    """A PDE with its domain, sampler, ansatz and exact or reference solution.

    Inputs are points of $\\mathbb{R}^{\\text{input_dim}}$: the `dim` spatial
    coordinates, then time last for time-dependent PDEs. Subclasses are final. Each
    declares `ansatz`, its recommended hard-constraint ansatz (a `stde.AbstractAnsatz`;
    `models.Constrained(net, pde.ansatz)` is a network in it), and what it offers beyond
    the methods every PDE has, by three flags that the methods they govern keep to:

    - `has_exact_solution`: `exact_solution` evaluates a closed form; without one it
      raises `ValueError`.
    - `has_reference_solution`: `reference_solution` evaluates the truth anywhere in the
      domain (the closed form, or a numerical reference); without one (the parabolic
      PDEs, known only at their `reference_point`; a `pdes.CustomPDE` given no solution)
      it raises `ValueError`. Implied by `has_exact_solution`.
    - `rebuildable` (a class flag): `config()` is a JSON-able dict that identifies the
      PDE (the same config, the same PDE) and rebuilds it: `pdes.get(**pde.config())`
      for the catalogue's PDEs, your own constructor for a subclass of yours (`zoo`
      records it in run directories and asks for the instance, `pde=`). Without it (a
      PDE holding Python callables, such as `pdes.CustomPDE`) `config` raises
      `ValueError`.
    """

    name: AbstractVar[str]
    dim: AbstractVar[int]
    seed: AbstractVar[int]
    time_dependent: AbstractClassVar[bool]
    # The recommended hard-constraint ansatz: `models.Constrained(net, pde.ansatz)`.
    ansatz: AbstractVar[stde.AbstractAnsatz]
    has_exact_solution: AbstractVar[bool]
    has_reference_solution: AbstractVar[bool]
    rebuildable: AbstractClassVar[bool]
    # `residual` returns shape `residual_shape` per point; `()` except for the
    # gradient-enhanced KdV. The loss is the mean over points of the sum of squares.
    residual_shape: ClassVar[tuple[int, ...]] = ()

    @property
    def input_dim(self) -> int:
        return self.dim + int(self.time_dependent)

    @abc.abstractmethod
    def params(self) -> dict:
        """Parameters beyond name, dim and seed, as a JSON-able dict."""

    @abc.abstractmethod
    def _residual(self, u, x, estimator, key) -> Array: ...

    @abc.abstractmethod
    def _sample_interior(self, key, n) -> Array: ...

    @abc.abstractmethod
    def _solution(self, x) -> Array:
        """The exact solution, or the reference where there is no closed form; called
        only when `has_reference_solution`."""

    def config(self) -> dict:
        """A JSON-able dict that identifies this PDE: `pdes.get(**pde.config())` rebuilds
        it (for a subclass of your own, outside the catalogue, your constructor does).

        **Raises:** `ValueError` unless the PDE is `rebuildable`.
        """
        if not self.rebuildable:
            raise ValueError(
                f"A `{type(self).__name__}` is not `rebuildable` (it holds Python callables), "
                "so it has no config that `pdes.get` rebuilds; keep the instance."
            )
        return {"name": self.name, "dim": self.dim, "seed": self.seed, "params": self.params()}

    def exact_solution(self, x: Point) -> Scalar:
        """The closed-form solution at one point `x` of shape `(input_dim,)`.

        **Raises:** `ValueError` unless the PDE `has_exact_solution`.
        """
        return self._checked_solution(
            x,
            "exact_solution",
            self.has_exact_solution,
            "has no closed-form solution (`has_exact_solution` is False).",
        )

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
        check_int(n, "n", where=where)
        return self._sample_interior(key, n)

    def reference_solution(self, x: Point) -> Scalar:
        """The true solution at one point: closed form where known, else the reference.

        **Raises:** `ValueError` unless the PDE `has_reference_solution`.
        """
        return self._checked_solution(
            x,
            "reference_solution",
            self.has_reference_solution,
            "has no closed form and no reference solution to compare with.",
        )

    def _checked_solution(self, x, method: str, offered: bool, missing: str) -> Array:
        # The two public solution methods differ only in the flag that promises them.
        where = f"`{type(self).__name__}.{method}`"
        if not offered:
            raise ValueError(f"{where}: `{self.name}` {missing}")
        return self._solution(check_point(x, self.input_dim, where=where))
