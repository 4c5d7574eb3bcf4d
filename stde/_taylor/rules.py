"""How the default engine pushes jets through each primitive: one rule per primitive.

Every value that depends on the input carries one shared primal, the lower Taylor
coefficients $y_1 \\ldots y_{K-1}$ of each of the `n` jets, and only the weighted sums
$\\sum_j w_{qj} y_K^{(j)}$ of their top coefficients (see `collapsed.py`). A rule maps such
values (and plain arrays, which carry no jets) through its primitive.

Users register rules for their own primitives with `stde.rules.register_rule`:

    stde.rules.register_rule(my_p, stde.rules.Linear())
    stde.rules.register_rule(my_p, stde.rules.Elementwise(derivatives=...))

A primitive without a registered rule falls back to its `jax.experimental.jet` rule.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import jet

from ._support import unsupported_error

try:
    from jax.extend.core import Primitive
except ImportError:  # older JAX
    from jax.core import Primitive
from ._values import Dense, Jets, Sparse, explode, is_float, is_jet, primal

__all__ = ["Elementwise", "Linear", "Rule", "register_rule"]


def _has_jet_rule(prim) -> bool:
    return prim in jet.jet_rules


# --- the arithmetic of collapsed jets (dense values) ---------------------------------


def linear(jets: Jets, f, args):
    """`f` is linear in its jet-carrying arguments: apply its JVP to every coefficient."""
    primals = [primal(a) for a in args]
    pos = [i for i, a in enumerate(args) if isinstance(a, Dense)]
    out = f(*primals)

    def tangent(*ts):
        full = list(primals)

        def g(*xs):
            for i, x in zip(pos, xs):
                full[i] = x
            return f(*full)

        return jax.jvp(g, [primals[i] for i in pos], list(ts))[1]

    lowers = [args[i].lower.reshape((-1,) + args[i].primal.shape) for i in pos]
    lower = jax.vmap(tangent)(*lowers)
    lower = lower.reshape((jets.n, jets.order - 1) + out.shape)
    top = None
    if any(args[i].top is not None for i in pos):
        tops = [
            args[i].top if args[i].top is not None else jets.zero_top(args[i].primal) for i in pos
        ]
        top = jax.vmap(tangent)(*tops)
    return Dense(out, lower, top)


def unary(jets: Jets, f, arg: Dense, derivatives=None):
    r"""An elementwise function of one jet-carrying argument, by Faà di Bruno:
    $y_m = \sum_j f^{(j)}(x_0) B_{m,j}(x_1, \ldots)$ with the Bell polynomials $B$.

    The derivatives $f^{(j)}(x_0)$ depend on the primal only, so they are computed once
    for all jets (in closed form, or by one jet of $f$ along the unit series), and the
    per-jet work is a few products; $j = 1$ at $m = K$ is the collapsed top's linear term.
    """
    k = jets.order
    x0 = arg.primal
    # The primal from the primitive itself: some jet rules compose it from others and
    # lose precision (jet's erfc is 1 - erf, zero in float32 from x ~ 4 on).
    out = f(x0)
    if derivatives is not None:
        derivs = derivatives(x0, out, k)
    else:
        unit = (jnp.ones_like(x0),) + (jnp.zeros_like(x0),) * (k - 1)
        _, derivs = jet.jet(f, (x0,), (unit,))
    xs = [None] + [arg.lower[:, i] for i in range(k - 1)]  # x_1 .. x_{K-1}
    bell = {(0, 0): None}  # None stands for the constant 1
    for m in range(1, k + 1):
        for j in range(1, m + 1):
            acc = None
            for i in range(1, m - j + 2):
                if i >= k or (m - i, j - 1) not in bell:
                    continue  # x_K is the collapsed top, handled below
                prev = bell[(m - i, j - 1)]
                term = xs[i] if prev is None else xs[i] * prev
                c = math.comb(m - 1, i - 1)
                term = term if c == 1 else c * term
                acc = term if acc is None else acc + term
            if acc is not None:
                bell[(m, j)] = acc

    def coefficient(m, start=1):
        acc = None
        for j in range(start, m + 1):
            if (m, j) in bell:
                term = derivs[j - 1] * bell[(m, j)]
                acc = term if acc is None else acc + term
        return jnp.zeros_like(xs[1]) if acc is None else acc

    if k == 1:  # y_1 = f'(x_0) x_1, all of it on the collapsed top
        lower = jnp.zeros((jets.n, 0) + out.shape, out.dtype)
        top = jets.zero_top(out)
    else:
        lower = jnp.stack([coefficient(m) for m in range(1, k)], axis=1)
        top = jets.collapse(coefficient(k, start=2))
    if arg.top is not None:
        top = top + derivs[0] * arg.top
    return Dense(out, lower.astype(out.dtype), top.astype(out.dtype))


def product(jets: Jets, a: Dense, b: Dense):
    r"""Leibniz: $y_m = \sum_j \binom{m}{j} a_j b_{m-j}$; the top's $a_0 b_K + a_K b_0$
    terms act on the collapsed tops."""
    k = jets.order
    out = a.primal * b.primal

    def coef(i, s):  # i-th coefficient of series s, per jet
        return s.primal if i == 0 else s.lower[:, i - 1]

    def leibniz(m, lo, hi):
        acc = 0
        for j in range(lo, hi + 1):
            acc = acc + math.comb(m, j) * coef(j, a) * coef(m - j, b)
        return acc

    lower = jnp.stack([leibniz(m, 0, m) for m in range(1, k)], axis=1)
    rem = leibniz(k, 1, k - 1) if k > 1 else jnp.zeros((1,) + out.shape, out.dtype)
    top = jets.collapse(jnp.broadcast_to(rem, lower.shape[:1] + out.shape))
    if a.top is not None:
        top = top + a.top * b.primal
    if b.top is not None:
        top = top + a.primal * b.top
    return Dense(out, lower.astype(out.dtype), top.astype(out.dtype))


def generic(jets: Jets, f, args):
    """Any function with jet rules: per jet for the lower coefficients and the remainder
    $R$ of the top one; the JVP carries the collapsed top inputs."""
    primals = [primal(a) for a in args]
    pos = [i for i, a in enumerate(args) if isinstance(a, Dense)]

    def g(*xs):
        full = list(primals)
        for i, x in zip(pos, xs):
            full[i] = x
        return f(*full)

    xs = [primals[i] for i in pos]
    out = g(*xs)
    k = jets.order
    if k == 1:
        lower = jnp.zeros((jets.n, 0) + out.shape, out.dtype)
        remainder = None
    else:

        def per_jet(*lowers):
            series = [tuple(lo) + (jnp.zeros_like(x),) for lo, x in zip(lowers, xs)]
            _, coeffs = jet.jet(g, tuple(xs), tuple(series))
            return jnp.stack(coeffs[: k - 1]), coeffs[k - 1]

        lower, rem = jax.vmap(per_jet)(*[args[i].lower for i in pos])
        remainder = jets.collapse(rem)
    top = remainder
    if any(args[i].top is not None for i in pos):

        def jvp_top(*ts):
            return jax.jvp(g, xs, list(ts))[1]

        tops = [
            args[i].top if args[i].top is not None else jets.zero_top(args[i].primal) for i in pos
        ]
        t = jax.vmap(jvp_top)(*tops)
        top = t if top is None else top + t
    return Dense(out, lower, top)


def _split_contraction(params, args, kind):
    """For a batch-free `dot_general` with one operand of type `kind`: (that operand, the
    other, their contracted axes, whether it is the left one); None with batch axes."""
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    if lb or rb:
        return None
    lhs, rhs = args
    first = isinstance(lhs, kind)
    if first:
        return lhs, rhs, lc, rc, True
    return rhs, lhs, rc, lc, False


# --- the rules ---------------------------------------------------------------------


class Rule:
    """How the default engine pushes jets through one primitive (see `register_rule`).

    Integer and boolean results carry no derivatives and are computed from the primals;
    sparse input tangents stay sparse where the rule allows, else they are densified.
    """

    # Elementwise primitives keep coordinate tangents sparse: they work on the entries
    # the jets touch only.
    elementwise: bool = False

    def compute(self, prim, params) -> Callable:
        """The primitive as a function of its operands."""
        return lambda *args: prim.bind(*args, **params)

    def __call__(self, interp, prim, params, args):
        if prim.multiple_results:
            raise unsupported_error(prim.name, "default")
        jets = interp.jets
        f = self.compute(prim, params)
        primals = [primal(a) for a in args]
        if not is_float(jax.eval_shape(f, *primals).dtype):
            # Comparisons and integer results carry no derivatives.
            return f(*primals)
        sparse = [a for a in args if isinstance(a, Sparse)]
        if sparse:
            out = self.sparse(jets, prim, params, f, args, sparse)
            if out is not None:
                return out
            args = [jets.densify(a) for a in args]
        return self.dense(jets, prim, params, f, args)

    def dense(self, jets: Jets, prim, params, f, args) -> Dense:
        raise NotImplementedError

    def sparse(self, jets: Jets, prim, params, f, args, sparse) -> Sparse | Dense | None:
        """A result that keeps sparse operands sparse, or None to densify them."""
        if not self.elementwise or any(isinstance(a, Dense) for a in args):
            return None
        first = sparse[0]
        shape = first.primal.shape
        same_idx = all(s.idx is first.idx for s in sparse)
        # Constants of the same rank broadcast their unit axes (a bias row (1, k) added to
        # the rows (w, k) of a layer).
        shapes_ok = all(
            jnp.ndim(a) == 0
            or (jnp.ndim(a) == len(shape) and jnp.broadcast_shapes(jnp.shape(a), shape) == shape)
            for a in args
            if not isinstance(a, Sparse)
        )
        if not (same_idx and shapes_ok):
            return None
        args = [
            a if isinstance(a, Sparse) or jnp.ndim(a) == 0 else jnp.broadcast_to(a, shape)
            for a in args
        ]
        return self.sparse_elementwise(jets, prim, params, f, args, first)

    @staticmethod
    def coalesce(s: Sparse) -> Sparse:
        """Move the values of repeated indices (a jet may hit one coordinate twice, e.g.
        $e_i + e_j$ with $i = j$) onto their first occurrence, so that a nonlinear
        elementwise rule sees each coordinate's whole series once."""
        same = jnp.all(s.idx[:, :, None, :] == s.idx[:, None, :, :], axis=-1)  # (n, m, m)
        first = jnp.argmax(same, axis=-1)  # first entry with the same index
        m = s.idx.shape[1]
        move = (first[:, :, None] == jnp.arange(m)).astype(s.lower.dtype)  # (n, a, b)

        # For a few entries, a sum of m^2 scaled entries: as a batched m x m matmul over
        # the rows' values the einsum runs several times slower.
        def mix(v, jet_axis):  # v: jets along jet_axis, entries along axis 2
            if m > 4:
                spec = "nka...,nab->nkb..." if jet_axis == 0 else "pna...,nab->pnb..."
                return jnp.einsum(spec, v, move)
            parts = [jnp.take(v, a, axis=2) for a in range(m)]
            shape = (1,) * jet_axis + (-1,) + (1,) * (v.ndim - 2 - jet_axis)
            weight = lambda a, b: move[:, a, b].reshape(shape)  # noqa: E731
            cols = [sum(p * weight(a, b) for a, p in enumerate(parts)) for b in range(m)]
            return jnp.stack(cols, axis=2)

        lower = mix(s.lower, 0)
        top = None if s.top is None else mix(s.top, 1)
        return Sparse(s.primal, s.idx, lower, top)

    def sparse_elementwise(self, jets: Jets, prim, params, f, args, sparse: Sparse):
        """Work on the gathered entries: each jet's entries, with that jet's primal
        entries, are a small dense one-jet problem (vmapped over the jets)."""
        if sparse.idx.shape[1] > 1:
            args = [self.coalesce(a) if isinstance(a, Sparse) else a for a in args]
            sparse = next(a for a in args if isinstance(a, Sparse))
        idx = tuple(jnp.moveaxis(sparse.idx, -1, 0))  # rank x (n, m)
        out = f(*[primal(a) for a in args])
        compact = []
        for a in args:
            if isinstance(a, Sparse):
                top = None if a.top is None else a.top.swapaxes(0, 1)  # (n, p, m)
                compact.append(Dense(a.primal[idx], a.lower, top))
            elif jnp.ndim(a) == 0:
                compact.append(a)
            else:
                compact.append(a[idx])

        def one(j, *cs):
            jet_j = jets.one_jet(j)
            cs = [Dense(c.primal, c.lower[None], c.top) if is_jet(c) else c for c in cs]
            res = self.dense(jet_j, prim, params, f, cs)
            top = res.top if res.top is not None else jets.zero_top(res.primal)
            return res.lower[0], top

        # Jet j's entries: its gathered primal, coefficients and tops (axis 0 of each).
        in_axes = [0] + [None if not is_jet(c) and jnp.ndim(c) == 0 else 0 for c in compact]
        lower, top = jax.vmap(one, in_axes=in_axes)(jnp.arange(jets.n), *compact)
        top = top.swapaxes(0, 1).astype(out.dtype)  # (p, n, m, *S[r:])
        return Sparse(out, sparse.idx, lower.astype(out.dtype), top)


@dataclass(frozen=True)
class Linear(Rule):
    """A primitive linear in its jet-carrying operands (jointly), like `add` or
    `reshape`: each coefficient goes through its JVP. `elementwise=True` (like `add`)
    also keeps coordinate tangents sparse."""

    elementwise: bool = False

    def dense(self, jets, prim, params, f, args):
        return linear(jets, f, args)


@dataclass(frozen=True)
class Elementwise(Rule):
    """A nonlinear elementwise primitive, like `tanh`.

    With one jet-carrying operand the coefficients follow from Faà di Bruno's formula
    and the derivatives $f', \\ldots, f^{(K)}$ at the primal, shared by all jets:
    `derivatives(x, y, k)` returns them as a list of `k` arrays shaped like `x`, given
    `y = f(x)`; without it, they come from the primitive's `jax.experimental.jet` rule.
    With several jet-carrying operands the jet rule is used per jet. `function(*args,
    **params)`, if given, computes the primitive (and with it, its derivatives) from
    primitives that have rules.
    """

    derivatives: Callable | None = None
    function: Callable | None = None
    elementwise: bool = True

    def compute(self, prim, params):
        if self.function is None:
            return super().compute(prim, params)
        return lambda *args: self.function(*args, **params)

    def dense(self, jets, prim, params, f, args):
        pos = [i for i, a in enumerate(args) if isinstance(a, Dense)]
        others_fit = all(
            jnp.ndim(a) == 0 or jnp.shape(a) == args[pos[0]].primal.shape
            for a in args
            if not isinstance(a, Dense)
        )
        # At first order a jet rule's JVP is as cheap; without one, derivatives it is.
        first_order_jvp = jets.order == 1 and (self.function is not None or _has_jet_rule(prim))
        if len(pos) == 1 and others_fit and not first_order_jvp:
            i = pos[0]
            derivatives = self.derivatives if len(args) == 1 else None
            if derivatives is None and self.function is None and not _has_jet_rule(prim):
                raise unsupported_error(prim.name, "default")
            g = lambda v: f(*args[:i], v, *args[i + 1 :])  # noqa: E731
            return unary(jets, g, args[i], derivatives)
        return _generic(self, jets, prim, f, args)


def _generic(rule, jets, prim, f, args):
    if getattr(rule, "function", None) is None and not _has_jet_rule(prim):
        raise unsupported_error(prim.name, "default")
    return generic(jets, f, args)


class _Generic(Rule):
    """Any primitive with a `jax.experimental.jet` rule (the fallback)."""

    def dense(self, jets, prim, params, f, args):
        return _generic(self, jets, prim, f, args)


class _Mul(Rule):
    elementwise = True

    def dense(self, jets, prim, params, f, args):
        pos = [i for i, a in enumerate(args) if isinstance(a, Dense)]
        if len(pos) == 1:
            return linear(jets, f, args)
        a, b = args
        if jets.order > 1 and a.primal.shape == b.primal.shape:
            return product(jets, a, b)
        return generic(jets, f, args)


class _Div(Elementwise):
    def dense(self, jets, prim, params, f, args):
        if not isinstance(args[1], Dense):  # linear in the numerator
            return linear(jets, f, args)
        return super().dense(jets, prim, params, f, args)


class _DotGeneral(Rule):
    def dense(self, jets, prim, params, f, args):
        if sum(isinstance(a, Dense) for a in args) == 2:
            return generic(jets, f, args)
        contracted = self.contract_dense(jets, params, args)
        return contracted if contracted is not None else linear(jets, f, args)

    def sparse(self, jets, prim, params, f, args, sparse):
        if len(sparse) == 1 and not any(isinstance(a, Dense) for a in args):
            out = self.contract_sparse(prim, params, args)
            return out if out is not None else self.contract_rows(prim, params, args)
        return None

    @staticmethod
    def contract_rows(prim, params, args):
        """A constant applied to the rows of a sparse left operand (`rows @ weight`): the
        result is sparse in the same rows. Contracting the last of its element-sparse axes
        gathers slices of the constant; contracting axes within the rows multiplies the
        rows' values only."""
        split = _split_contraction(params, args, Sparse)
        if split is None or not split[4]:
            return None
        s, c, s_contract, c_contract, _ = split
        out = prim.bind(*[primal(a) for a in args], **params)
        rank, r = s.primal.ndim, s.rank
        if r == rank >= 2 and tuple(s_contract) == (rank - 1,) and len(c_contract) == 1:
            axis = c_contract[0]
            cols = jnp.take(c, s.idx[..., -1], axis=axis)  # free[:axis] + (n, m) + free[axis:]
            cols = jnp.moveaxis(cols, (axis, axis + 1), (0, 1)).astype(out.dtype)
            lower = jnp.einsum("nkm,nm...->nkm...", s.lower, cols)
            top = None if s.top is None else jnp.einsum("pnm,nm...->pnm...", s.top, cols)
            return Sparse(out, s.idx[..., :-1], lower, top)
        if all(a >= r for a in s_contract):
            # The values' axes are (n, K - 1 or p, m) and then the rows' own.
            dims = ((tuple(a - r + 3 for a in s_contract), tuple(c_contract)), ((), ()))

            def apply(v):
                return lax.dot_general(v, c, dims, precision=params.get("precision"))

            top = None if s.top is None else apply(s.top).astype(out.dtype)
            return Sparse(out, s.idx, apply(s.lower).astype(out.dtype), top)
        return None

    @staticmethod
    def contract_sparse(prim, params, args):
        """`dot_general` contracting every axis of a sparse operand with a constant: a
        gather of the constant's slices, never a product with one-hots."""
        split = _split_contraction(params, args, Sparse)
        if split is None:
            return None
        s, c, s_contract, c_contract, _ = split
        if s.primal.ndim != 1 or tuple(s_contract) != (0,):
            return None
        out = prim.bind(*[primal(a) for a in args], **params)
        # Output axes are lhs free then rhs free; the sparse side has none, so the output
        # is the constant's free axes in order: slices of the constant along its axis.
        axis = c_contract[0]
        # Take along the contracted axis in place (no transposed copy of the constant,
        # whose cotangent would then be transposed back), then move the small result.
        cols = jnp.take(c, s.idx[..., 0], axis=axis)  # free[:axis] + (n, m) + free[axis:]
        cols = jnp.moveaxis(cols, (axis, axis + 1), (0, 1)).astype(out.dtype)
        lower = jnp.einsum("nkm,nm...->nk...", s.lower, cols)
        top = None if s.top is None else jnp.einsum("pnm,nm...->p...", s.top, cols)
        return Dense(out, lower, top)

    @staticmethod
    def contract_dense(jets, params, args):
        """`dot_general` of a constant with a jet-carrying operand that it contracts fully
        (a layer's weight times its input): the coefficients stacked on a leading axis of
        one matrix product, which leaves them leading in the result, as the representation
        wants them (a JVP under `vmap` would put them last and transpose back)."""
        split = _split_contraction(params, args, Dense)
        if split is None:
            return None
        d, c, d_contract, c_contract, dense_first = split
        if d.primal.ndim != len(d_contract):
            return None
        kwargs = {
            "precision": params.get("precision"),
            "preferred_element_type": params.get("preferred_element_type"),
        }
        primals = (d.primal, c) if dense_first else (c, d.primal)
        out = lax.dot_general(*primals, params["dimension_numbers"], **kwargs)

        def apply(t):  # t: (B, *S) -> (B, *free of the constant)
            dims = ((tuple(a + 1 for a in d_contract), tuple(c_contract)), ((), ()))
            return lax.dot_general(t, c, dims, **kwargs).astype(out.dtype)

        lower = apply(d.lower.reshape((-1,) + d.primal.shape))
        lower = lower.reshape((jets.n, jets.order - 1) + out.shape)
        top = None if d.top is None else apply(d.top)
        return Dense(out, lower, top)


class _ReduceSum(Linear):
    def sparse(self, jets, prim, params, f, args, sparse):
        (s,) = args
        axes = tuple(params["axes"])
        out = jnp.sum(s.primal, axis=axes)
        if all(a >= s.rank for a in axes):  # within the rows
            within = tuple(a - s.rank + 3 for a in axes)
            top = None if s.top is None else s.top.sum(within)
            return Sparse(out, s.idx, s.lower.sum(within), top)
        s = explode(s)
        keep = [a for a in range(s.primal.ndim) if a not in axes]
        if not keep:
            lower = s.lower.sum(-1)
            top = None if s.top is None else s.top.sum((1, 2))
            return Dense(out, lower, top)
        return Sparse(out, s.idx[..., keep], s.lower, s.top)


def _reshaped(s: Sparse, new_shape) -> Sparse:
    s = explode(s)
    flat = jnp.ravel_multi_index(tuple(jnp.moveaxis(s.idx, -1, 0)), s.primal.shape, mode="clip")
    idx = jnp.stack(jnp.unravel_index(flat, new_shape), axis=-1)
    return Sparse(s.primal.reshape(new_shape), idx, s.lower, s.top)


class _Reshape(Linear):
    """`reshape`, and the primitives that only add or drop unit axes (`squeeze`, and
    `broadcast_in_dim` to as many elements): the entries' flat positions stay."""

    def sparse(self, jets, prim, params, f, args, sparse):
        if len(args) != 1 or (prim.name == "reshape" and params.get("dimensions") is not None):
            return None
        (s,) = args
        new_shape = jax.eval_shape(f, s.primal).shape
        if math.prod(new_shape) != s.primal.size:
            return None
        if not new_shape:
            return None  # a scalar: dense
        return _reshaped(s, new_shape)


class _Slice(Linear):
    """A static slice: entries outside it are dropped (value zero, index clipped)."""

    def sparse(self, jets, prim, params, f, args, sparse):
        (s,) = args
        if params.get("strides") and any(st != 1 for st in params["strides"]):
            return None
        out = f(s.primal)
        r = s.rank
        if 0 in out.shape:
            return None
        start = jnp.asarray(params["start_indices"][:r], s.idx.dtype)
        idx = s.idx - start
        valid = jnp.all((idx >= 0) & (idx < jnp.asarray(out.shape[:r], idx.dtype)), axis=-1)
        idx = jnp.where(valid[..., None], idx, 0)
        within = tuple(
            slice(a, b) for a, b in zip(params["start_indices"][r:], params["limit_indices"][r:])
        )
        keep = valid.reshape(valid.shape + (1,) * (out.ndim - r))  # (n, m, 1, ...)

        def cut(v, keep):  # v: (n, K - 1, m, *S[r:]) or (p, n, m, *S[r:])
            return jnp.where(keep, v[(slice(None),) * 3 + within], 0).astype(out.dtype)

        lower = cut(s.lower, keep[:, None])
        top = None if s.top is None else cut(s.top, keep[None])
        return Sparse(out, idx, lower, top)


def _joined(jets, out, dim, parts, new_axis):
    """`concatenate` (`new_axis` False) or `stack` (True) of sparse and constant parts
    along `dim`: each part's entries, moved to its place; constants have none."""
    ranks = {a.rank for a in parts if isinstance(a, Sparse)}
    # `dim` must be one of the indexed axes (a new axis may also follow them).
    if len(ranks) > 1 or dim >= ranks.pop() + new_axis:
        parts = [explode(a) if isinstance(a, Sparse) else a for a in parts]
    idxs, lowers, tops, offset = [], [], [], 0
    for a in parts:
        if isinstance(a, Sparse):
            if new_axis:
                column = jnp.full(a.idx.shape[:2] + (1,), offset, a.idx.dtype)
                idx = jnp.concatenate([a.idx[..., :dim], column, a.idx[..., dim:]], axis=-1)
            else:
                idx = a.idx.at[..., dim].add(offset)
            idxs.append(idx)
            lowers.append(a.lower)
            tops.append(a.top)
        offset += 1 if new_axis else jnp.shape(primal(a))[dim]
    top = None
    if any(t is not None for t in tops):
        top = jnp.concatenate(
            [
                t if t is not None else jnp.zeros((jets.p,) + lo.shape[:1] + lo.shape[2:], lo.dtype)
                for t, lo in zip(tops, lowers)
            ],
            axis=2,
        )
    return Sparse(out, jnp.concatenate(idxs, axis=1), jnp.concatenate(lowers, axis=2), top)


@dataclass(frozen=True)
class _Join(Linear):
    """`concatenate` along `params[axis]`, or `stack` (`new_axis`) on a new axis there."""

    axis: str = "dimension"
    new_axis: bool = False

    def sparse(self, jets, prim, params, f, args, sparse):
        if any(isinstance(a, Dense) for a in args):
            return None
        out = f(*[primal(a) for a in args])
        return _joined(jets, out, params[self.axis], args, self.new_axis)


class _OnPrimals(Rule):
    """Side effects with no result to differentiate (`jax.debug.callback`, `print`):
    they see the primals."""

    def __call__(self, interp, prim, params, args):
        return prim.bind(*[primal(a) for a in args], **params)


def _polynomial_rule(q):
    """Derivatives of an $f$ with $f' = q(f)$ for a polynomial $q$: then
    $f^{(j+1)} = P_j'(f)\\, q(f)$ with $P_0(y) = y$, so every derivative is a polynomial in
    the primal output (tanh: $q = 1 - y^2$; logistic: $q = y - y^2$; exp: $q = y$)."""
    q = np.polynomial.Polynomial(q)

    def rule(x, y, k):
        polys, p = [], np.polynomial.Polynomial([0, 1])
        for _ in range(k):
            p = p.deriv() * q
            polys.append(p)
        powers = [jnp.ones_like(y), y]
        for _ in range(max(len(p.coef) for p in polys) - 2):
            powers.append(powers[-1] * y)
        return [sum(float(c) * powers[i] for i, c in enumerate(p.coef) if c) for p in polys]

    return rule


def _trigonometric_rule(shift):
    """$\\sin^{(j)} = \\sin(x + j\\pi/2)$: derivatives cycle through $\\pm\\sin, \\pm\\cos$."""

    def rule(x, y, k):
        s, c = (y, jnp.cos(x)) if shift == 0 else (jnp.sin(x), y)
        cycle = [c, -s, -c, s]
        return [cycle[(j + shift) % 4] for j in range(k)]

    return rule


# --- the registry ------------------------------------------------------------------

_RULES: dict = {}  # a Primitive, or a primitive's name, -> its rule
_GENERIC = _Generic()


def register_rule(primitive, rule: Rule) -> None:
    """Tell the default engine (`stde.TaylorEngine`) how to push jets through
    `primitive` (a `jax.extend.core.Primitive`, or a primitive's name, which then covers
    every primitive of that name).

    `rule` is `stde.rules.Linear()` for a primitive linear in its inputs, or
    `stde.rules.Elementwise(derivatives=...)` for a nonlinear elementwise one. A
    primitive without a registered rule uses its `jax.experimental.jet` rule, if any.
    Registering again replaces the rule, built-in ones included.

    The primitive itself needs what any primitive needs under `jit` and `vmap` (an
    abstract evaluation, a lowering, a batching rule); `Linear` also applies its JVP
    rule, and differentiating the estimate (training) needs its reverse-mode rules.
    """
    if not isinstance(primitive, Primitive | str):
        raise TypeError(f"`primitive` must be a JAX primitive or a name, got {primitive!r}")
    if not isinstance(rule, Rule):
        raise TypeError(f"`rule` must be a `stde.rules.Rule`, got {rule!r}")
    _RULES[primitive] = rule


def lookup(prim) -> Rule:
    rule = _RULES.get(prim)
    return rule if rule is not None else _RULES.get(prim.name, _GENERIC)


_LINEAR = Linear()
_LINEAR_ELEMENTWISE = Linear(elementwise=True)
_ELEMENTWISE = Elementwise()
for _name in (
    "broadcast_in_dim transpose squeeze expand_dims slice dynamic_slice concatenate pad "
    "rev select_n cumsum gather dynamic_update_slice reduce_precision real imag conj split "
    "device_put reshard"
).split():
    register_rule(_name, _LINEAR)
for _name in "add add_any sub neg convert_element_type copy copy_p".split():
    register_rule(_name, _LINEAR_ELEMENTWISE)
for _name in (
    "max min pow integer_pow sqrt rsqrt expm1 log log1p sinh cosh asinh acosh atanh erf "
    "erfc erf_inv abs atan2"
).split():
    register_rule(_name, _ELEMENTWISE)
register_rule("reduce_sum", _ReduceSum())
register_rule("reshape", _Reshape())
register_rule("squeeze", _Reshape())
register_rule("broadcast_in_dim", _Reshape())
register_rule("slice", _Slice())
register_rule("concatenate", _Join(axis="dimension"))
register_rule("stack", _Join(axis="axis", new_axis=True))
register_rule("mul", _Mul())
register_rule("div", _Div())
register_rule("dot_general", _DotGeneral())
register_rule("debug_callback", _OnPrimals())
# Derivatives in closed form (a few products of the primal output) instead of one jet of
# the function along the unit series.
register_rule("tanh", Elementwise(_polynomial_rule([1, 0, -1])))
register_rule("logistic", Elementwise(_polynomial_rule([0, 1, -1])))
register_rule("exp", Elementwise(_polynomial_rule([0, 1])))
register_rule("sin", Elementwise(_trigonometric_rule(0)))
register_rule("cos", Elementwise(_trigonometric_rule(1)))
# Primitives without a jet rule, as compositions of ones that have one.
register_rule("atan", Elementwise(function=lambda x, **_: lax.atan2(x, jnp.ones_like(x))))
register_rule("tan", Elementwise(function=lambda x, **_: lax.sin(x) / lax.cos(x)))
register_rule("square", Elementwise(function=lambda x, **_: x * x))
register_rule(
    "exp2", Elementwise(function=lambda x, **_: lax.exp(x * jnp.log(jnp.asarray(2, x.dtype))))
)
register_rule(
    "cbrt",
    Elementwise(
        function=lambda x, **_: jnp.sign(x) * lax.pow(lax.abs(x), jnp.asarray(1 / 3, x.dtype))
    ),
)
