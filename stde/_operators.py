"""Differential operators as contractions of derivative tensors.

Every operator is a constant-coefficient linear combination of four kinds of atoms:
weighted diagonal sums $\\sum_i a_i \\partial_i^k$ (the Laplacian is $k = 2$, $a = 1$),
the biharmonic $\\sum_{ij} \\partial_i^2 \\partial_j^2$, and single mixed partials.
"""

import abc
import math
from collections.abc import Callable
from numbers import Real

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_int, is_int
from ._planning import MultiIndex


class AbstractOperator(eqx.Module):
    """A linear differential operator on scalar fields $u: \\mathbb{R}^n \\to \\mathbb{R}$."""

    @abc.abstractmethod
    def terms(self) -> tuple[tuple[Float[ArrayLike, ""], "AbstractAtom"], ...]:
        """The operator as `((coefficient, atom), ...)`."""

    def __add__(self, other):
        if not isinstance(other, AbstractOperator):
            return NotImplemented
        return LinearCombination(self.terms() + other.terms())

    def __sub__(self, other):
        if not isinstance(other, AbstractOperator):
            return NotImplemented
        return self + (-1.0) * other

    def __mul__(self, scalar):
        if isinstance(scalar, AbstractOperator) or not _is_scalar(scalar):
            return NotImplemented
        _check_coefficient(scalar)
        return LinearCombination(tuple((scalar * c, a) for c, a in self.terms()))

    __rmul__ = __mul__

    def __neg__(self):
        return (-1.0) * self

    def __truediv__(self, scalar):
        if not _is_scalar(scalar):
            return NotImplemented
        _check_coefficient(scalar)
        if isinstance(scalar, Real) and scalar == 0:
            raise ValueError("`scalar` (an operator's divisor) must not be zero, got 0.")
        return self * (1.0 / scalar)


def _is_scalar(value) -> bool:
    return isinstance(value, Real) or (hasattr(value, "shape") and value.shape == ())


def _check_coefficient(value) -> None:
    """A concrete coefficient must be a finite real number (a traced one is not checked)."""
    try:
        number = complex(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return
    if number.imag != 0 or not math.isfinite(number.real):
        raise ValueError(
            f"`scalar` (an operator's coefficient) must be a finite real number, got {value!r}."
        )


class AbstractAtom(AbstractOperator):
    """An operator that the estimators plan directly."""

    def terms(self):
        return ((1.0, self),)

    @abc.abstractmethod
    def max_coordinate(self) -> int | None:
        """The largest input coordinate the atom touches, `None` for "all of them"."""


class LinearCombination(AbstractOperator):
    """$\\sum_k c_k L_k$; built by `+`, `-` and scalar `*` on operators."""

    pairs: tuple[tuple[Float[ArrayLike, ""], AbstractAtom], ...]

    def __check_init__(self):
        if len(self.pairs) == 0:
            raise ValueError(
                "`LinearCombination(pairs=...)` needs at least one (coefficient, atom) pair, "
                f"got {self.pairs!r}; build operators with `+` and scalar `*` instead."
            )

    def terms(self):
        return self.pairs


def _check_dims(name: str, dims):
    check_int(dims, f"{name}(dims=...)", optional=True)


class DiagonalDerivative(AbstractAtom):
    """$\\sum_{i < \\text{dims}} a_i\\, \\partial^k u / \\partial x_i^k$."""

    order: int = eqx.field(static=True)
    weights: Float[Array, " dims"] | Callable | None
    dims: int | None = eqx.field(static=True)

    def __init__(
        self,
        order: int,
        # Loose on purpose: a wrong shape is a `ValueError` naming `weights` (docs/design.md).
        weights: ArrayLike | Callable | None = None,
        dims: int | None = None,
    ):
        """**Arguments:**

        - `order`: the derivative order $k \\ge 1$.
        - `weights`: `None` (all ones), an array of shape `(dims,)`, or a function of the
          full input point returning such an array (e.g. `lambda x: x[:-1] ** 2` for
          $\\sum_i x_i^2 \\partial_i^2$ in a time-dependent problem).
        - `dims`: sum over the first `dims` input coordinates only (time-dependent
          problems put $t$ last); `None` sums over all of them.
        """
        check_int(order, "DiagonalDerivative(order=...)")
        _check_dims("DiagonalDerivative", dims)
        if weights is not None and not callable(weights):
            weights = jnp.asarray(weights)
            if not jnp.issubdtype(weights.dtype, jnp.number) or jnp.issubdtype(
                weights.dtype, jnp.complexfloating
            ):
                raise ValueError(
                    "`DiagonalDerivative(weights=...)` must be real numbers, got dtype "
                    f"{weights.dtype}."
                )
            if not jnp.issubdtype(weights.dtype, jnp.floating):
                weights = weights.astype(jnp.result_type(float))
            if weights.ndim != 1:
                raise ValueError(
                    "`DiagonalDerivative(weights=...)` must be one-dimensional, got shape "
                    f"{weights.shape}."
                )
            if dims is not None and weights.shape[0] != dims:
                raise ValueError(
                    f"`DiagonalDerivative(weights=...)` has shape {weights.shape}, expected "
                    f"({dims},) to match `dims={dims}`."
                )
            if dims is None:
                dims = weights.shape[0]
        self.order = order
        self.weights = weights
        self.dims = dims

    def max_coordinate(self):
        return None if self.dims is None else self.dims - 1

    def weights_at(self, x: Float[Array, " n"], dims: int) -> Float[Array, " dims"] | None:
        if self.weights is None:
            return None
        w = self.weights(x) if callable(self.weights) else self.weights
        w = jnp.asarray(w)
        if not jnp.issubdtype(w.dtype, jnp.number) or jnp.issubdtype(w.dtype, jnp.complexfloating):
            raise ValueError(
                f"`DiagonalDerivative(weights=...)` must give real numbers, got dtype {w.dtype}."
            )
        w = w.astype(x.dtype)
        if w.shape != (dims,):
            raise ValueError(
                f"`DiagonalDerivative(weights=...)` gave shape {w.shape}, expected ({dims},)."
            )
        return w


class Laplacian(AbstractAtom):
    """$\\Delta u = \\sum_{i < \\text{dims}} \\partial^2 u / \\partial x_i^2$."""

    dims: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        _check_dims("Laplacian", self.dims)

    def max_coordinate(self):
        return None if self.dims is None else self.dims - 1

    def as_diagonal(self) -> DiagonalDerivative:
        return DiagonalDerivative(order=2, dims=self.dims)


class Biharmonic(AbstractAtom):
    """The biharmonic $\\Delta^2 u = \\sum_{i,j} \\partial_i^2 \\partial_j^2 u$ (first `dims`)."""

    dims: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        _check_dims("Biharmonic", self.dims)

    def max_coordinate(self):
        return None if self.dims is None else self.dims - 1


class Partial(AbstractAtom):
    """One mixed partial derivative, given by the coordinates it differentiates.

    `Partial((0, 0, 2))` is $\\partial^3 u / \\partial x_0^2 \\partial x_2$; the order of the
    tuple does not matter.
    """

    index: MultiIndex = eqx.field(static=True)

    def __init__(self, index: tuple[int, ...] | list[int]):
        try:
            index = tuple(index)
        except TypeError:
            raise ValueError(
                "`Partial(index)` must be a tuple of coordinates, e.g. `Partial((0,))` for "
                f"d/dx_0, got {index!r}."
            ) from None
        if len(index) == 0 or not all(is_int(i) and i >= 0 for i in index):
            raise ValueError(
                "`Partial(index)` must be a non-empty tuple of non-negative int coordinates, "
                f"got {index!r}."
            )
        self.index = tuple(sorted(index))

    def max_coordinate(self):
        return max(self.index)
