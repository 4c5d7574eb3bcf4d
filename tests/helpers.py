import jax
import jax.numpy as jnp
import numpy as np


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8):
    """Whether two pytrees have the same structure and numerically close leaves."""
    xs, xdef = jax.tree_util.tree_flatten(x)
    ys, ydef = jax.tree_util.tree_flatten(y)
    if xdef != ydef:
        return False
    return all(
        np.shape(a) == np.shape(b) and bool(jnp.allclose(a, b, rtol=rtol, atol=atol))
        for a, b in zip(xs, ys)
    )
