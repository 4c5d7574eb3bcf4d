"""jaxtyping aliases shared across `pdes`."""

from collections.abc import Callable
from typing import TypeAlias

from jaxtyping import Array, Float, PRNGKeyArray, Shaped

# A point of the PDE's input space. Annotated loosely on purpose: every public entry point
# validates the shape and dtype itself so that a wrong shape is a `ValueError` naming the argument
# (docs/design.md), not a type-checker error.
Point: TypeAlias = Shaped[Array, "*shape"]
Points: TypeAlias = Float[Array, "n input_dim"]
Scalar: TypeAlias = Float[Array, ""]
Key: TypeAlias = PRNGKeyArray
# A scalar field $\mathbb{R}^n \to \mathbb{R}$ (an Equinox module or a plain function).
ScalarField: TypeAlias = Callable[[Float[Array, " n"]], Float[Array, ""]]
