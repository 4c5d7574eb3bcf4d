"""The plain `jax.experimental.jet` engine: one full Taylor series per jet."""

import jax
import jax.numpy as jnp
from jax.experimental import jet

from .._jets import JetBatch
from ._support import check_supported
from .base import AbstractTaylorEngine


class JetEngine(AbstractTaylorEngine):
    """Every jet through `jax.experimental.jet`, vmapped; one-hot tangents built densely.

    The reference formulation: simple and general, but each direction carries its own
    top coefficient and the first layer sees dense one-hot tangents.
    """

    def propagate(self, fn, x, batches: list[JetBatch]):
        check_supported(fn, x, engine="jet")
        primal = fn(x)
        total = 0.0
        for b in batches:

            def coefficients(idx, val):
                if idx is None:
                    series = tuple(val)
                else:
                    series = tuple(jnp.zeros_like(x).at[idx].add(v) for v in val)
                _, coeffs = jet.jet(fn, (x,), (series,))
                return jnp.stack(coeffs)  # (order,): y_1 .. y_order

            ys = jax.vmap(coefficients, in_axes=(None if b.idx is None else 0, 0))(b.idx, b.val)
            total = total + b.weight @ ys[:, b.order - 1]
            if b.lower_weight is not None:
                total = total + jnp.einsum("pkn,nk->p", b.lower_weight, ys[:, : b.order - 1])
        return primal, total
