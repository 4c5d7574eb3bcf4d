"""Differential operators as Equinox layers: `layer(u, x, key=...)` estimates $(L u)(x)$."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

import stde
from stde._checks import check_point, is_real

from ._base import AbstractField
from ._custom_types import Key, Point, Scalar, ScalarField


def _check_inputs(u, x, where: str):
    if not callable(u):
        raise ValueError(f"{where}: `u` must be a callable scalar field, got {type(u).__name__}.")
    if isinstance(u, AbstractField):
        check_point(x, u.in_size, where=where)


def _is_scalar(c) -> bool:
    return is_real(c) or (hasattr(c, "shape") and c.shape == ())


class AbstractOperatorLayer(eqx.Module):
    """Base of `OperatorLayer` and `SumLayer`: an estimate of $(L u)(x)$ for a field `u`.

    Layers hold no trainable parameters (operator coefficients and estimator settings only)
    and compose with `+`, `-` and scalar `*`.
    """

    @abc.abstractmethod
    def __call__(self, u: ScalarField, x: Point, *, key: Key | None = None) -> Scalar:
        """Estimate $(L u)(x)$ at one point `x`; `key` is needed by stochastic estimators."""

    @abc.abstractmethod
    def evaluate(
        self, u: ScalarField, x: Point, *, key: Key | None = None, gradient: bool = False
    ) -> stde.Evaluation:
        """As `__call__`, also returning $u(x)$ (and $\\nabla u(x)$ if `gradient`)."""

    @abc.abstractmethod
    def scale(self, c) -> "AbstractOperatorLayer":
        """The layer of $c L$."""

    def __add__(self, other):
        if not isinstance(other, AbstractOperatorLayer):
            return NotImplemented
        if (
            isinstance(self, OperatorLayer)
            and isinstance(other, OperatorLayer)
            and eqx.tree_equal(self.estimator, other.estimator) is True
        ):
            # Same estimator: one layer of the summed operator, so the engine shares one
            # primal pass (and the jets of both operators are merged).
            return OperatorLayer(self.operator + other.operator, self.estimator)
        left = self.layers if isinstance(self, SumLayer) else (self,)
        right = other.layers if isinstance(other, SumLayer) else (other,)
        return SumLayer(left + right)

    def __mul__(self, c):
        if not _is_scalar(c):
            return NotImplemented
        return self.scale(c)

    __rmul__ = __mul__

    def __neg__(self):
        return self.scale(-1.0)

    def __sub__(self, other):
        if not isinstance(other, AbstractOperatorLayer):
            return NotImplemented
        return self + (-other)


class OperatorLayer(AbstractOperatorLayer):
    """An operator and an estimator, applied to a scalar field at a point.

    `OperatorLayer(stde.Laplacian(), stde.SparseSTDE(16))(u, x, key=key)` is
    `stde.estimate(stde.Laplacian(), u, x, estimator=stde.SparseSTDE(16), key=key)`.
    vmap it over points (`jax.vmap(lambda x, k: layer(u, x, key=k))`) and put it inside
    your own Module, e.g. one returning `u(x) + c * lap(u, x, key=key)`.

    Composition: `a + b` of two layers with equal estimators is
    `OperatorLayer(a.operator + b.operator, estimator)`; with different estimators it is a
    `SumLayer` that splits `key` and evaluates each with its own estimator (each unbiased,
    so the sum is). `c * a` is `OperatorLayer(c * a.operator, a.estimator)`.
    """

    operator: stde.AbstractOperator
    estimator: stde.AbstractEstimator

    def __init__(
        self,
        operator: stde.AbstractOperator,
        estimator: stde.AbstractEstimator = stde.Exact(),
    ):
        """**Arguments:** `operator`, e.g. `stde.Laplacian() + 0.5 * stde.Partial((2,))`;
        `estimator`: `stde.Exact()` (default), `stde.SparseSTDE(...)` or
        `stde.DenseSTDE(...)`."""
        if not isinstance(operator, stde.AbstractOperator):
            raise ValueError(
                f"`operator` must be a `stde` operator such as `stde.Laplacian()`, got "
                f"{operator!r}."
            )
        if not isinstance(estimator, stde.AbstractEstimator):
            raise ValueError(
                "`estimator` must be `stde.Exact()`, `stde.SparseSTDE(...)` or "
                f"`stde.DenseSTDE(...)`, got {estimator!r}."
            )
        self.operator = operator
        self.estimator = estimator

    def __call__(self, u: ScalarField, x: Point, *, key: Key | None = None) -> Scalar:
        _check_inputs(u, x, "OperatorLayer")
        return stde.estimate(self.operator, u, x, estimator=self.estimator, key=key)

    def evaluate(
        self, u: ScalarField, x: Point, *, key: Key | None = None, gradient: bool = False
    ) -> stde.Evaluation:
        _check_inputs(u, x, "OperatorLayer.evaluate")
        return stde.evaluate(
            self.operator, u, x, estimator=self.estimator, key=key, gradient=gradient
        )

    def scale(self, c) -> "OperatorLayer":
        return OperatorLayer(c * self.operator, self.estimator)


class SumLayer(AbstractOperatorLayer):
    """A sum of operator layers with different estimators; built by `+`.

    `key` is split into one key per term. `evaluate` returns the first term's `Evaluation`
    (value, gradient) with `estimate` replaced by the sum, so it costs one primal pass per
    term; combine layers with the same estimator to share it.
    """

    layers: tuple[OperatorLayer, ...]

    def __check_init__(self):
        if len(self.layers) < 2:
            raise ValueError(
                f"`SumLayer` needs at least two `layers`, got {len(self.layers)}; use "
                "`OperatorLayer` for one."
            )

    def _keys(self, key):
        if key is None:
            return (None,) * len(self.layers)
        return tuple(jax.random.split(key, len(self.layers)))

    def __call__(self, u: ScalarField, x: Point, *, key: Key | None = None) -> Scalar:
        terms = [layer(u, x, key=k) for layer, k in zip(self.layers, self._keys(key), strict=True)]
        return jnp.sum(jnp.stack(terms))

    def evaluate(
        self, u: ScalarField, x: Point, *, key: Key | None = None, gradient: bool = False
    ) -> stde.Evaluation:
        keys = self._keys(key)
        first = self.layers[0].evaluate(u, x, key=keys[0], gradient=gradient)
        rest = [layer(u, x, key=k) for layer, k in zip(self.layers[1:], keys[1:], strict=True)]
        total = jnp.sum(jnp.stack([first.estimate, *rest]))
        return eqx.tree_at(lambda e: e.estimate, first, total)

    def scale(self, c) -> "SumLayer":
        return SumLayer(tuple(layer.scale(c) for layer in self.layers))
