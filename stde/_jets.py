"""Runtime jet batches: the arrays an engine pushes through a function."""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._planning import Plan


class JetBatch(NamedTuple):
    """`n` input jets of one order and their weights in `p` output combinations.

    Jet `j` puts direction $\\sum_a$ `val[j, k - 1, a]` $e_{\\text{idx}[j, a]}$ in slot $k$
    (sparse form, `m` coordinates per jet), or `val[j, k - 1]` itself when `idx` is `None`
    (dense form, `m` = the input dimension). Output `q` is
    $\\sum_j$ `weight[q, j]` $y_{\\text{order}}^{(j)}$.
    """

    order: int
    idx: Int[Array, "n m"] | None
    val: Float[Array, "n order m"]
    weight: Float[Array, "p n"]
    # Whether any jet has a direction in slot `order` (static): if not, the collapsed top
    # input is zero and need not be propagated.
    top_input: bool = True

    @property
    def num_jets(self) -> int:
        return self.val.shape[0]


def sparse_pure(order: int, idx, weight, dtype) -> JetBatch:
    """Pure directional jets $(e_{i}, 0, \\ldots, 0)$, one per entry of `idx`."""
    n = idx.shape[0]
    val = jnp.zeros((n, order, 1), dtype).at[:, 0, 0].set(1)
    return JetBatch(order, idx[:, None], val, weight[None, :], top_input=order == 1)


def dense_first_slot(order: int, directions, weight) -> JetBatch:
    """Dense jets $(v, 0, \\ldots, 0)$."""
    n, dim = directions.shape
    val = jnp.zeros((n, order, dim), directions.dtype).at[:, 0].set(directions)
    return JetBatch(order, None, val, weight[None, :], top_input=order == 1)


def from_plan(plan: Plan, dtype) -> list[JetBatch]:
    """The jets of a static plan, one batch per order, all over the plan's coordinates."""
    coords = sorted({c for mi in plan.target for c in mi})
    position = {c: a for a, c in enumerate(coords)}
    batches = []
    for order in sorted({pj.jet.order for pj in plan.jets}):
        jets = [pj for pj in plan.jets if pj.jet.order == order]
        val = np.zeros((len(jets), order, len(coords)))
        for j, pj in enumerate(jets):
            for slot, direction in pj.jet.slots:
                for c, coef in direction:
                    val[j, slot - 1, position[c]] = float(coef)
        idx = np.broadcast_to(np.array(coords), (len(jets), len(coords)))
        weight = np.array([[float(pj.weight) for pj in jets]])
        top_input = any(slot == order for pj in jets for slot, _ in pj.jet.slots)
        batches.append(
            JetBatch(
                order,
                jnp.asarray(idx),
                jnp.asarray(val, dtype),
                jnp.asarray(weight, dtype),
                top_input,
            )
        )
    return batches


def _pad(batch: JetBatch, m: int) -> JetBatch:
    extra = m - batch.val.shape[2]
    if extra == 0:
        return batch
    # Padding coordinates repeat the first one with coefficient zero: no new direction.
    idx = jnp.concatenate([batch.idx, jnp.repeat(batch.idx[:, :1], extra, axis=1)], axis=1)
    val = jnp.pad(batch.val, ((0, 0), (0, 0), (0, extra)))
    return JetBatch(batch.order, idx, val, batch.weight)


def merge(outputs: list[list[JetBatch]]) -> list[JetBatch]:
    """Merge the batches of several outputs into one batch per (order, form).

    Output `q`'s batches get weight rows that are zero for every other output, so one
    propagation serves all outputs.
    """
    p = len(outputs)
    keyed: dict = {}
    for q, batches in enumerate(outputs):
        for b in batches:
            w = jnp.zeros((p, b.num_jets), b.weight.dtype).at[q].set(b.weight.sum(0))
            keyed.setdefault((b.order, b.idx is None), []).append(b._replace(weight=w))
    merged = []
    for (order, dense), group in sorted(keyed.items()):
        if not dense:
            m = max(b.val.shape[2] for b in group)
            group = [_pad(b, m) for b in group]
        merged.append(
            JetBatch(
                order,
                None if dense else jnp.concatenate([b.idx for b in group]),
                jnp.concatenate([b.val for b in group]),
                jnp.concatenate([b.weight for b in group], axis=1),
                any(b.top_input for b in group),
            )
        )
    return merged
