"""Runtime jet batches: the arrays an engine pushes through a function."""

from fractions import Fraction
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
    $\\sum_j$ `weight[q, j]` $y_{\\text{order}}^{(j)}$, plus
    $\\sum_{k < \\text{order}} \\sum_j$ `lower_weight[q, k - 1, j]` $y_k^{(j)}$ when
    `lower_weight` is given (one jet then serves partials of several orders).
    """

    order: int
    idx: Int[Array, "n m"] | None
    val: Float[Array, "n order m"]
    weight: Float[Array, "p n"]
    # Whether any jet has a direction in slot `order` (static): if not, the collapsed top
    # input is zero and need not be propagated.
    top_input: bool = True
    lower_weight: Float[Array, "p order_minus_1 n"] | None = None

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
    """The jets of one static plan (its target as the one output)."""
    return from_plans([(0, 1.0, plan)], 1, dtype)


def from_plans(terms: list[tuple[int, object, Plan]], p: int, dtype) -> list[JetBatch]:
    """The jets of several static plans, `terms` = `(output q, coefficient, plan)`, with
    every direction pushed once.

    A pure directional jet has $y_k(c v) = c^k y_k(v)$, and the coefficients $y_k$,
    $k < K$, of the $K$-jet $(v, 0, \\ldots)$ are those of the $k$-jet: so the single-slot
    jets of all plans whose directions are parallel become one jet, pushed to the highest
    order any of them needs, and each plan reads the coefficient of its own order (the
    1D KdV's eight partials up to $u_{txxx}$ need five jets instead of sixteen). Multi-slot
    jets are pushed as planned. Coefficients may be traced; the plans are static.
    """
    pure: dict = {}  # normalised direction -> {term index: {order: Fraction}}
    multi: dict = {}  # order -> [(term index, PlannedJet)]
    for t, (_, _, plan) in enumerate(terms):
        for pj in plan.jets:
            (slot, direction), *rest = pj.jet.slots
            if rest or slot != 1:
                multi.setdefault(pj.jet.order, []).append((t, pj))
                continue
            scale = direction[0][1]
            v = tuple((c, a / scale) for c, a in direction)
            k = pj.jet.order
            by_order = pure.setdefault(v, {}).setdefault(t, {})
            by_order[k] = by_order.get(k, Fraction(0)) + pj.weight * scale**k

    # Group the directions by the order they are pushed to: one batch per order.
    groups: dict = {}
    for v, uses in pure.items():
        top = max(k for by_order in uses.values() for k in by_order)
        groups.setdefault(top, []).append((v, uses))
    batches = []
    for order in sorted(set(groups) | set(multi)):
        jets = [(((1, v),), uses) for v, uses in groups.get(order, [])]
        jets += [(pj.jet.slots, {t: {order: pj.weight}}) for t, pj in multi.get(order, [])]
        coords = sorted({c for slots, _ in jets for _, d in slots for c, _ in d})
        position = {c: a for a, c in enumerate(coords)}
        val = np.zeros((len(jets), order, len(coords)))
        static = np.zeros((len(terms), order, len(jets)))  # per term, per order, per jet
        for j, (slots, uses) in enumerate(jets):
            for slot, direction in slots:
                for c, coef in direction:
                    val[j, slot - 1, position[c]] = float(coef)
            for t, by_order in uses.items():
                for k, w in by_order.items():
                    static[t, k - 1, j] += float(w)
        weights = jnp.zeros((p, order, len(jets)), dtype)
        for t, (q, coef, _) in enumerate(terms):
            if static[t].any():
                weights = weights.at[q].add(coef * jnp.asarray(static[t], dtype))
        lower = weights[:, : order - 1] if static[:, : order - 1].any() else None
        idx = np.broadcast_to(np.array(coords), (len(jets), len(coords)))
        top_input = any(slot == order for slots, _ in jets for slot, _ in slots)
        batches.append(
            JetBatch(
                order,
                jnp.asarray(idx),
                jnp.asarray(val, dtype),
                weights[:, order - 1],
                top_input,
                lower,
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
    return batch._replace(idx=idx, val=val)


def merge(batches: list[JetBatch]) -> list[JetBatch]:
    """Merge batches (each with weights for all `p` outputs) into one per (order, form),
    so that one propagation serves all of them."""
    keyed: dict = {}
    for b in batches:
        keyed.setdefault((b.order, b.idx is None), []).append(b)
    merged = []
    for (order, dense), group in sorted(keyed.items()):
        if not dense:
            m = max(b.val.shape[2] for b in group)
            group = [_pad(b, m) for b in group]
        lower = None
        if any(b.lower_weight is not None for b in group):
            lower = jnp.concatenate(
                [
                    b.lower_weight
                    if b.lower_weight is not None
                    else jnp.zeros(b.weight.shape[:1] + (order - 1, b.num_jets), b.weight.dtype)
                    for b in group
                ],
                axis=2,
            )
        merged.append(
            JetBatch(
                order,
                None if dense else jnp.concatenate([b.idx for b in group]),
                jnp.concatenate([b.val for b in group]),
                jnp.concatenate([b.weight for b in group], axis=1),
                any(b.top_input for b in group),
                lower,
            )
        )
    return merged
