"""Abstract bases: scalar fields and input embeddings."""

import abc
from typing import Any

import equinox as eqx
from jaxtyping import Array, Float

from ._custom_types import Point, Scalar


class AbstractField(eqx.Module):
    """A scalar field $u: \\mathbb{R}^n \\to \\mathbb{R}$ evaluated at one point `x` of shape (n,).

    Every network and ansatz in `models` is one. Subclasses record their constructor
    hyperparameters so that `models.save` can write a file that `models.load` rebuilds
    without a skeleton.
    """

    in_size: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(self, x: Point) -> Scalar:
        """Evaluate the field at one point `x` of shape `(in_size,)`; returns a scalar."""

    @abc.abstractmethod
    def hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments (less `key`) that rebuild a module of this shape.

        Nested modules appear as modules; values that are not JSON-serialisable (callables)
        make the model saveable only with `models.load(path, like=skeleton)`.
        """


class AbstractEmbedding(eqx.Module):
    """A map $\\mathbb{R}^{n} \\to \\mathbb{R}^{m}$ placed in front of a field network."""

    in_size: eqx.AbstractVar[int]
    out_size: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(self, x: Point) -> Float[Array, " out_size"]:
        """Embed one point `x` of shape `(in_size,)`; returns shape `(out_size,)`."""

    @abc.abstractmethod
    def hyperparameters(self) -> dict[str, Any]:
        """As `AbstractField.hyperparameters`."""
