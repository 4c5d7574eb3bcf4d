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

            def top(idx, val, order=b.order):
                if idx is None:
                    series = tuple(val)
                else:
                    series = tuple(jnp.zeros_like(x).at[idx].add(v) for v in val)
                _, coeffs = jet.jet(fn, (x,), (series,))
                return coeffs[order - 1]

            tops = jax.vmap(top, in_axes=(None if b.idx is None else 0, 0))(b.idx, b.val)
            total = total + b.weight @ tops
        return primal, total
