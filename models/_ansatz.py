"""A field network inside a hard-constraint ansatz (the kinds are `stde`'s, shared with
`pdes`)."""

from typing import Any

import stde
from stde._checks import check_point

from ._base import AbstractField
from ._custom_types import Point, Scalar


class Constrained(AbstractField):
    """$u(x) = \\text{base}(x) + \\text{factor}(x)\\,N(x)$: the network $N$ inside the
    hard-constraint ansatz `ansatz`, so that its boundary, initial or terminal data hold
    exactly.

    The ansatz is any `stde.AbstractAnsatz`, the same object a PDE declares as
    `pde.ansatz`, so wrapping a network for a PDE is `models.Constrained(net, pde.ansatz)`:
    ```python
    u = models.Constrained(models.MLP(3, key=key), stde.BallAnsatz())  # (1 - |x|^2) N(x)
    ```
    The ansatz adds no parameters: the model's leaves are the network's. A model whose
    ansatz holds a callable (the `condition` of an initial- or terminal-value ansatz) is
    saved with `models.save` and loaded with `models.load(path, like=skeleton)`.
    """

    net: AbstractField
    ansatz: stde.AbstractAnsatz

    def __init__(self, net: AbstractField, ansatz: stde.AbstractAnsatz):
        """**Arguments:** `net` $N$ on the full input (space, then time if any); `ansatz`,
        a `stde.AbstractAnsatz`."""
        if not isinstance(net, AbstractField):
            raise ValueError(f"`net` must be a `models` field, got {type(net).__name__}.")
        if not isinstance(ansatz, stde.AbstractAnsatz):
            raise ValueError(
                "`ansatz` must be a `stde.AbstractAnsatz` (e.g. `stde.BallAnsatz()` or "
                f"`pde.ansatz`), got {type(ansatz).__name__}."
            )
        if ansatz.needs_time and net.in_size < 2:
            raise ValueError(
                f"`Constrained`: a `{type(ansatz).__name__}` needs `net.in_size` >= 2 (space "
                f"then time), got {net.in_size}."
            )
        self.net = net
        self.ansatz = ansatz

    @property
    def in_size(self) -> int:
        return self.net.in_size

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="Constrained")
        return self.ansatz.apply(self.net, x)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(net=self.net, ansatz=self.ansatz)
