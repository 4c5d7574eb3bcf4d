"""The values the default engine pushes through a function, and the jets they belong to.

Both value types are pytrees, so they pass through `lax.scan`, `lax.while_loop` and
`lax.cond` as carries and operands: loops and branches run as themselves.
"""

import math
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


# Fields typed `Any`: `jax.eval_shape` and `vmap` fill them with abstract values too.
@jax.tree_util.register_dataclass
@dataclass
class Dense:
    primal: Any  # shape S
    lower: Any  # (n, K - 1, *S): y_1 .. y_{K-1} of every jet
    top: Any  # (p, *S): the collapsed top coefficients; None means zero


@jax.tree_util.register_dataclass
@dataclass
class Sparse:
    """Tangents nonzero only at `idx` of the array's leading `r` axes: jet `j`,
    coefficient `k`, entry `a` is the slice at `idx[j, a]` (a tuple over the first `r`
    axes), with values `lower[j, k, a]` of the trailing shape `S[r:]`.

    With `r` = rank S an entry is one element (the input's coordinate tangents $e_i$);
    with fewer, whole rows: a layer applied to every row of a stack of windows keeps the
    tangent of one coordinate in the rows that coordinate reaches."""

    primal: Any  # shape S, dense
    idx: Any  # (n, m, r), int
    lower: Any  # (n, K - 1, m, *S[r:])
    top: Any  # (p, n, m, *S[r:]); None means zero

    @property
    def rank(self) -> int:
        """`r`: how many leading axes `idx` indexes."""
        return self.idx.shape[-1]


def explode(s: Sparse) -> Sparse:
    """`s` with one entry per element (`r` = rank S): each row's values become entries of
    their own, so rules written for element sparsity apply."""
    shape, r = s.primal.shape, s.rank
    if r == len(shape):
        return s
    trailing = shape[r:]
    t = math.prod(trailing)
    n, m = s.idx.shape[:2]
    inner = jnp.stack(jnp.unravel_index(jnp.arange(t), trailing), axis=-1)  # (t, rank - r)
    idx = jnp.concatenate(
        [
            jnp.broadcast_to(s.idx[:, :, None, :], (n, m, t, r)),
            jnp.broadcast_to(inner.astype(s.idx.dtype), (n, m, t, len(trailing))),
        ],
        axis=-1,
    ).reshape(n, m * t, len(shape))
    lower = s.lower.reshape(s.lower.shape[:2] + (m * t,))
    top = None if s.top is None else s.top.reshape(s.top.shape[:2] + (m * t,))
    return Sparse(s.primal, idx, lower, top)


def is_jet(v) -> bool:
    return isinstance(v, Dense | Sparse)


def primal(v):
    return v.primal if is_jet(v) else v


def is_float(x) -> bool:
    return jnp.issubdtype(jnp.result_type(primal(x)), jnp.inexact)


@dataclass(frozen=True)
class Jets:
    """The jets being pushed: order `K` and the weights (p, n) that collapse their tops."""

    order: int
    weight: jax.Array
    identity: bool = False  # `weight` is the identity: every jet keeps its own top

    @property
    def n(self) -> int:
        return self.weight.shape[1]

    @property
    def p(self) -> int:
        return self.weight.shape[0]

    def collapse(self, values: jax.Array) -> jax.Array:
        """$\\sum_j$ `weight[q, j]` `values[j]`: the per-jet top terms, summed."""
        return values if self.identity else jnp.tensordot(self.weight, values, axes=1)

    def one_jet(self, j) -> "Jets":
        """The context of jet `j` alone (its column of the weights)."""
        column = lax.dynamic_slice_in_dim(self.weight, j, 1, axis=1)
        return replace(self, weight=column, identity=False)

    def densify(self, v):
        if not isinstance(v, Sparse):
            return v
        shape = v.primal.shape
        lead, trailing = shape[: v.rank], shape[v.rank :]
        n, m = v.idx.shape[:2]
        flat = jnp.ravel_multi_index(tuple(jnp.moveaxis(v.idx, -1, 0)), lead, mode="clip")
        size = math.prod(lead)

        def scatter(vals, positions):  # vals (K - 1, m, *T) -> (K - 1, size, *T)
            out = jnp.zeros((vals.shape[0], size) + trailing, vals.dtype)
            return out.at[:, positions].add(vals)

        lower = jax.vmap(scatter)(v.lower, flat).reshape((n, self.order - 1) + shape)
        top = None
        if v.top is not None:
            p = v.top.shape[0]
            top = jnp.zeros((p, size) + trailing, v.top.dtype)
            top = top.at[:, flat.reshape(-1)].add(v.top.reshape((p, n * m) + trailing))
            top = top.reshape((p,) + shape)
        return Dense(v.primal, lower, top)

    def zero_top(self, x) -> jax.Array:
        return jnp.zeros((self.p,) + jnp.shape(x), jnp.result_type(x))

    # --- the types of loop carries and branch outputs -------------------------------
    # A value's type is None (no jets), False (Dense, zero top) or True (Dense with top);
    # a loop or a conditional needs one type per carry or output, the largest seen.

    @staticmethod
    def kind(v):
        return None if not is_jet(v) else v.top is not None

    @staticmethod
    def join(a, b):
        return b if a is None else a if b is None else a or b

    def promote(self, v, kind):
        """`v` (not Sparse) as a value of type `kind`, at least its own."""
        if kind is None:
            return v
        if not is_jet(v):
            lower = jnp.zeros((self.n, self.order - 1) + jnp.shape(v), jnp.result_type(v))
            v = Dense(v, lower, None)
        if kind and v.top is None:
            v = Dense(v.primal, v.lower, self.zero_top(v.primal))
        return v
