import abc

import equinox as eqx
from jaxtyping import Array, Float

from .._custom_types import ScalarField
from .._jets import JetBatch


class AbstractTaylorEngine(eqx.Module):
    """Pushes batches of input jets through a scalar field.

    Engines differ in how, never in what: every engine returns the same numbers.
    """

    @abc.abstractmethod
    def propagate(
        self, fn: ScalarField, x: Float[Array, " n"], batches: list[JetBatch]
    ) -> tuple[Float[Array, ""], Float[Array, " p"]]:
        """Return `fn(x)` and, for each output row `q` of the batches' weights,
        $\\sum_{\\text{batches}} \\sum_j$ `weight[q, j]` $y_{\\text{order}}^{(j)}$."""
