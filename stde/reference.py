"""Independent references for tests and benchmarks: nested AD and first-order SDGD.

None of these use Taylor mode; they are what the engines are checked against.
"""

import jax
import jax.numpy as jnp

from ._checks import check_int as _check_int, check_point as _check_point, is_int as _is_int


def partial(fn, index: tuple[int, ...]):
    """$\\partial^{|index|} u / \\partial x_{i_1} \\cdots$ by nested forward-mode AD."""
    index = tuple(index)
    if not all(_is_int(i) and i >= 0 for i in index):
        # A negative coordinate would silently wrap around in `.at[i]`.
        raise ValueError(f"`index` must be a tuple of non-negative int coordinates, got {index!r}.")

    def directional(h, i):
        return lambda x: jax.jvp(h, (x,), (jnp.zeros_like(x).at[i].set(1.0),))[1]

    g = fn
    for i in index:
        g = directional(g, i)
    return g


def derivative_tensor(fn, order: int):
    """The full order-`order` derivative tensor by nested `jax.jacfwd`."""
    _check_int(order, "order", minimum=0)
    g = fn
    for _ in range(order):
        g = jax.jacfwd(g)
    return g


def laplacian_hessian(fn, x):
    """Trace of the full Hessian (reverse over forward)."""
    x = _check_point(x)
    return jnp.trace(jax.hessian(fn)(x))


def laplacian_fwd_over_rev(fn, x, idx=None):
    """SDGD by forward-over-reverse Hessian-vector products: $\\sum_{i} e_i^T H e_i$ over
    `idx` (all coordinates when `None`), vmapped over directions."""
    x = _check_point(x)
    idx = jnp.arange(x.shape[0]) if idx is None else idx
    grad = jax.grad(fn)

    def hvp_diag(i):
        e = jnp.zeros_like(x).at[i].set(1.0)
        return jax.jvp(grad, (x,), (e,))[1][i]

    return jnp.sum(jax.vmap(hvp_diag)(idx))


def laplacian_rev_over_rev(fn, x, idx=None):
    """SDGD by reverse-over-reverse: the gradient of $\\partial_i u$, vmapped."""
    x = _check_point(x)
    idx = jnp.arange(x.shape[0]) if idx is None else idx
    grad = jax.grad(fn)

    def second(i):
        return jax.grad(lambda y: grad(y)[i])(x)[i]

    return jnp.sum(jax.vmap(second)(idx))


def forward_laplacian(fn, x):
    """folx's forward Laplacian (optional dependency `folx`)."""
    try:
        from folx import forward_laplacian as fl
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("`forward_laplacian` needs the optional package `folx`.") from e
    return fl(fn)(x).laplacian
