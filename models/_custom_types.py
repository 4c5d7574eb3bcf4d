"""jaxtyping aliases shared across `models`."""

from collections.abc import Callable
from typing import TypeAlias

from jaxtyping import Array, Float, PRNGKeyArray, Shaped

# A point in the input space (floating point). Annotated loosely on purpose: every public entry
# point validates the shape itself so that a wrong shape is a `ValueError` naming the
# argument (docs/design.md), not a type-checker error.
Point: TypeAlias = Shaped[Array, "*shape"]
Scalar: TypeAlias = Float[Array, ""]
Key: TypeAlias = PRNGKeyArray
# A scalar field $\mathbb{R}^n \to \mathbb{R}$ taking a point of shape (n,).
ScalarField: TypeAlias = Callable[[Float[Array, " n"]], Float[Array, ""]]
# An activation function name (see `models.MLP`) or an elementwise callable.
Activation: TypeAlias = str | Callable[[Array], Array]
