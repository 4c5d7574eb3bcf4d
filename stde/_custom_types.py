from collections.abc import Callable
from typing import TypeAlias

from jaxtyping import Array, Float, PRNGKeyArray

Point: TypeAlias = Float[Array, " dim"]
Scalar: TypeAlias = Float[Array, ""]
ScalarField: TypeAlias = Callable[[Point], Scalar]
Key: TypeAlias = PRNGKeyArray
