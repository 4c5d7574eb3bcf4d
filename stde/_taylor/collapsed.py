"""The default engine: collapsed Taylor mode with sparse input tangents.

A jaxpr interpreter. Every value that depends on the input carries one shared primal, the
lower Taylor coefficients $y_1 \\ldots y_{K-1}$ of each of the `n` jets, and only the
weighted sums $\\sum_j w_{qj} y_K^{(j)}$ of their top coefficients (`p` of them, one per
requested output). This is exact because the top coefficient enters every primitive
linearly: $y_K = R(x_0; x_1, \\ldots, x_{K-1}) + J(x_0)\\, x_K$, so
$\\sum_j w_j y_K^{(j)} = \\sum_j w_j R^{(j)} + J(x_0) \\sum_j w_j x_K^{(j)}$ (collapsing,
Dangel et al. 2025; for $K = 2$ it is the forward Laplacian). Linear primitives then cost
one application for all jets' top coefficients instead of one per jet.

The input's tangents $e_i$ stay sparse (coordinates and values) through elementwise
primitives, reshapes and partial sums; a matrix product that contracts them gathers
columns instead of multiplying by a one-hot. Anything else densifies, which is correct
but costs O(n d) memory.

Per-jet nonlinear parts reuse `jax.experimental.jet`'s rules, so any primitive with a jet
rule works; `custom_jvp` functions (relu, softplus, silu), nested `jit`, `scan`
(`fori_loop` with static bounds), `cond` and `atan` are handled here.
"""

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import jet

from .._jets import JetBatch
from ._support import unsupported_error
from .base import AbstractTaylorEngine

try:
    from jax.extend.core import Literal
except ImportError:  # older JAX
    from jax.core import Literal


@dataclass
class _Dense:
    primal: jax.Array  # shape S
    lower: jax.Array  # (n, K - 1, *S)
    top: jax.Array | None  # (p, *S); None means zero


@dataclass
class _Sparse:
    """Tangents nonzero only at `idx`: jet `j`, coefficient `k`, entry `a` sits at index
    `idx[j, a]` (a tuple over the array's axes) with value `lower[j, k, a]`."""

    primal: jax.Array  # shape S, dense
    idx: jax.Array  # (n, m, rank S), int
    lower: jax.Array  # (n, K - 1, m)
    top: jax.Array | None  # (p, n, m)


_LINEAR = {
    "add",
    "add_any",
    "sub",
    "neg",
    "reshape",
    "broadcast_in_dim",
    "transpose",
    "squeeze",
    "expand_dims",
    "reduce_sum",
    "slice",
    "dynamic_slice",
    "concatenate",
    "pad",
    "rev",
    "convert_element_type",
    "copy",
    "copy_p",
    "select_n",
    "cumsum",
    "gather",
    "dynamic_update_slice",
    "reduce_precision",
    "real",
    "imag",
    "conj",
    "split",
    "device_put",
    "reshard",
}
# Linear when only the first operand carries jets (the others are constants).
_LINEAR_IN_FIRST = {"div"}
# Linear when exactly one operand carries jets.
_BILINEAR = {"mul", "dot_general"}
_ELEMENTWISE = {
    "add",
    "add_any",
    "sub",
    "neg",
    "mul",
    "div",
    "max",
    "min",
    "pow",
    "integer_pow",
    "square",
    "sqrt",
    "rsqrt",
    "cbrt",
    "exp",
    "exp2",
    "expm1",
    "log",
    "log1p",
    "tanh",
    "logistic",
    "sin",
    "cos",
    "tan",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "erf",
    "erfc",
    "erf_inv",
    "abs",
    "atan2",
    "atan",
    "convert_element_type",
    "copy",
    "copy_p",
}
# Primitives without a jet rule, rewritten into ones that have one.
_REWRITES = {
    "atan": lambda x, **_: lax.atan2(x, jnp.ones_like(x)),
    "tan": lambda x, **_: lax.sin(x) / lax.cos(x),
    "square": lambda x, **_: x * x,
    "exp2": lambda x, **_: lax.exp(x * jnp.log(jnp.asarray(2, x.dtype))),
    "cbrt": lambda x, **_: jnp.sign(x) * lax.pow(lax.abs(x), jnp.asarray(1 / 3, x.dtype)),
}


_JET_RULES = {p.name for p in jet.jet_rules}


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


# Elementwise functions whose derivatives are cheap in closed form (a few products of the
# primal output), instead of one `jet` of the function along the unit series.
_DERIVATIVES = {
    "tanh": _polynomial_rule([1, 0, -1]),
    "logistic": _polynomial_rule([0, 1, -1]),
    "exp": _polynomial_rule([0, 1]),
    "sin": _trigonometric_rule(0),
    "cos": _trigonometric_rule(1),
}


def _bind(prim, params):
    rewrite = _REWRITES.get(prim.name)
    if rewrite is not None:
        return lambda *args: rewrite(*args, **params)
    return lambda *args: prim.bind(*args, **params)


def _is_float(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


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


class _Interpreter:
    def __init__(self, order: int, weight: jax.Array, identity: bool = False):
        self.order = order
        self.weight = weight  # (p, n)
        self.identity = identity  # `weight` is the identity: every jet keeps its own top

    def collapse(self, values: jax.Array) -> jax.Array:
        """$\\sum_j$ `weight[q, j]` `values[j]`: the per-jet top terms, summed."""
        return values if self.identity else jnp.tensordot(self.weight, values, axes=1)

    # --- representations ------------------------------------------------------------

    def densify(self, v: _Sparse) -> _Dense:
        shape = v.primal.shape
        n, _, m = v.lower.shape
        flat = jnp.ravel_multi_index(tuple(jnp.moveaxis(v.idx, -1, 0)), shape, mode="clip")
        size = math.prod(shape)

        def scatter(vals, positions):  # vals (..., m) -> (..., size)
            out = jnp.zeros(vals.shape[:-1] + (size,), vals.dtype)
            return out.at[..., positions].add(vals)

        lower = jax.vmap(scatter)(v.lower, flat).reshape((n, self.order - 1) + shape)
        top = None
        if v.top is not None:
            top = jnp.zeros((v.top.shape[0], size), v.top.dtype)
            top = top.at[:, flat.reshape(-1)].add(v.top.reshape(v.top.shape[0], -1))
            top = top.reshape((v.top.shape[0],) + shape)
        return _Dense(v.primal, lower, top)

    # --- dense rules ----------------------------------------------------------------

    def linear(self, f, args):
        """`f` is linear in its jet-carrying arguments: apply its JVP to every coefficient."""
        primals = [a.primal if isinstance(a, _Dense) else a for a in args]
        pos = [i for i, a in enumerate(args) if isinstance(a, _Dense)]
        out = f(*primals)

        def tangent(*ts):
            full = list(primals)

            def g(*xs):
                for i, x in zip(pos, xs):
                    full[i] = x
                return f(*full)

            return jax.jvp(g, [primals[i] for i in pos], list(ts))[1]

        n = self.weight.shape[1]
        lowers = [args[i].lower.reshape((-1,) + args[i].primal.shape) for i in pos]
        lower = jax.vmap(tangent)(*lowers)
        lower = lower.reshape((n, self.order - 1) + out.shape)
        top = None
        if any(args[i].top is not None for i in pos):
            p = self.weight.shape[0]
            tops = [
                args[i].top
                if args[i].top is not None
                else jnp.zeros((p,) + args[i].primal.shape, args[i].primal.dtype)
                for i in pos
            ]
            top = jax.vmap(tangent)(*tops)
        return _Dense(out, lower, top)

    def unary(self, f, arg: _Dense, name: str | None = None):
        r"""An elementwise function of one jet-carrying argument, by Faà di Bruno:
        $y_m = \sum_j f^{(j)}(x_0) B_{m,j}(x_1, \ldots)$ with the Bell polynomials $B$.

        The derivatives $f^{(j)}(x_0)$ depend on the primal only, so they are computed once
        for all jets (one jet of $f$ along the unit series), and the per-jet work is a few
        products; $j = 1$ at $m = K$ is the collapsed top's linear term.
        """
        k = self.order
        x0 = arg.primal
        # The primal from the primitive itself: some jet rules compose it from others and
        # lose precision (jet's erfc is 1 - erf, zero in float32 from x ~ 4 on).
        out = f(x0)
        rule = _DERIVATIVES.get(name)
        if rule is not None:
            derivs = rule(x0, out, k)
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

        lower = jnp.stack([coefficient(m) for m in range(1, k)], axis=1)
        top = self.collapse(coefficient(k, start=2))
        if arg.top is not None:
            top = top + derivs[0] * arg.top
        return _Dense(out, lower.astype(out.dtype), top.astype(out.dtype))

    def product(self, a: _Dense, b: _Dense):
        r"""Leibniz: $y_m = \sum_j \binom{m}{j} a_j b_{m-j}$; the top's $a_0 b_K + a_K b_0$
        terms act on the collapsed tops."""
        k = self.order
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
        top = self.collapse(jnp.broadcast_to(rem, lower.shape[:1] + out.shape))
        if a.top is not None:
            top = top + a.top * b.primal
        if b.top is not None:
            top = top + a.primal * b.top
        return _Dense(out, lower.astype(out.dtype), top.astype(out.dtype))

    def generic(self, f, args):
        """Any primitive: jet rules per jet for the lower coefficients and the remainder
        $R$ of the top one; the JVP carries the collapsed top inputs."""
        primals = [a.primal if isinstance(a, _Dense) else a for a in args]
        pos = [i for i, a in enumerate(args) if isinstance(a, _Dense)]

        def g(*xs):
            full = list(primals)
            for i, x in zip(pos, xs):
                full[i] = x
            return f(*full)

        xs = [primals[i] for i in pos]
        out = g(*xs)
        k = self.order
        if k == 1:
            lower = jnp.zeros((self.weight.shape[1], 0) + out.shape, out.dtype)
            remainder = None
        else:

            def per_jet(*lowers):
                series = [tuple(lo) + (jnp.zeros_like(x),) for lo, x in zip(lowers, xs)]
                _, coeffs = jet.jet(g, tuple(xs), tuple(series))
                return jnp.stack(coeffs[: k - 1]), coeffs[k - 1]

            lower, rem = jax.vmap(per_jet)(*[args[i].lower for i in pos])
            remainder = self.collapse(rem)
        top = remainder
        if any(args[i].top is not None for i in pos):
            p = self.weight.shape[0]

            def jvp_top(*ts):
                return jax.jvp(g, xs, list(ts))[1]

            tops = [
                args[i].top if args[i].top is not None else jnp.zeros((p,) + x.shape, x.dtype)
                for i, x in zip(pos, xs)
            ]
            t = jax.vmap(jvp_top)(*tops)
            top = t if top is None else top + t
        return _Dense(out, lower, top)

    # --- sparse rules ---------------------------------------------------------------

    @staticmethod
    def coalesce(s: _Sparse) -> _Sparse:
        """Move the values of repeated indices (a jet may hit one coordinate twice, e.g.
        $e_i + e_j$ with $i = j$) onto their first occurrence, so that a nonlinear
        elementwise rule sees each coordinate's whole series once."""
        same = jnp.all(s.idx[:, :, None, :] == s.idx[:, None, :, :], axis=-1)  # (n, m, m)
        first = jnp.argmax(same, axis=-1)  # first entry with the same index
        m = s.idx.shape[1]
        move = (first[:, :, None] == jnp.arange(m)).astype(s.lower.dtype)  # (n, a, b)
        lower = jnp.einsum("nka,nab->nkb", s.lower, move)
        top = None if s.top is None else jnp.einsum("pna,nab->pnb", s.top, move)
        return _Sparse(s.primal, s.idx, lower, top)

    def sparse_elementwise(self, name, f, args, sparse: _Sparse):
        """Elementwise primitives keep the sparsity: work on the gathered entries."""
        if sparse.idx.shape[1] > 1:
            args = [self.coalesce(a) if isinstance(a, _Sparse) else a for a in args]
            sparse = next(a for a in args if isinstance(a, _Sparse))
        idx = tuple(jnp.moveaxis(sparse.idx, -1, 0))  # rank x (n, m)
        primals = [a.primal if isinstance(a, _Sparse | _Dense) else a for a in args]
        out = f(*primals)
        compact = []
        for a in args:
            if isinstance(a, _Sparse):
                compact.append(_Dense(a.primal[idx], a.lower, a.top))
            elif jnp.ndim(a) == 0:
                compact.append(a)
            else:
                compact.append(a[idx])
        # Each jet's entries see their own gathered primal: vmap over jets, with the
        # jet's weights and top coefficients as a one-jet problem.
        n = sparse.lower.shape[0]
        p = self.weight.shape[0]

        def one(j, *cs):
            sub = _Interpreter(self.order, lax.dynamic_slice_in_dim(self.weight, j, 1, axis=1))
            items = []
            for c in cs:
                if isinstance(c, tuple):
                    prim_j, lower_j, top_j = c
                    items.append(_Dense(prim_j, lower_j[None], None if top_j is None else top_j))
                else:
                    items.append(c)
            res = sub.dense_rule(name, f, items)
            top = res.top
            if top is None:
                top = jnp.zeros((p,) + res.primal.shape, res.primal.dtype)
            return res.lower[0], top

        packed = []
        for c in compact:
            if isinstance(c, _Dense):
                top = c.top.swapaxes(0, 1) if c.top is not None else None  # (n, p, m)
                packed.append((c.primal, c.lower, top))
            else:
                packed.append(c)
        in_axes = [0] + [
            (0, 0, None if c[2] is None else 0)
            if isinstance(c, tuple)
            else (None if jnp.ndim(c) == 0 else 0)
            for c in packed
        ]
        lower, top = jax.vmap(one, in_axes=in_axes)(jnp.arange(n), *packed)
        top = top.swapaxes(0, 1).astype(out.dtype)  # (p, n, m)
        return _Sparse(out, sparse.idx, lower.astype(out.dtype), top)

    def sparse_contract(self, prim, params, args):
        """`dot_general` contracting every axis of a sparse operand with a constant: a
        gather of the constant's slices, never a product with one-hots."""
        split = _split_contraction(params, args, _Sparse)
        if split is None:
            return None
        s, c, s_contract, c_contract, _ = split
        if s.primal.ndim != 1 or tuple(s_contract) != (0,):
            return None
        out = prim.bind(*[a.primal if isinstance(a, _Sparse) else a for a in args], **params)
        # Output axes are lhs free then rhs free; the sparse side has none, so the output
        # is the constant's free axes in order: slices of the constant along its axis.
        axis = c_contract[0]
        # Take along the contracted axis in place (no transposed copy of the constant,
        # whose cotangent would then be transposed back), then move the small result.
        cols = jnp.take(c, s.idx[..., 0], axis=axis)  # free[:axis] + (n, m) + free[axis:]
        cols = jnp.moveaxis(cols, (axis, axis + 1), (0, 1)).astype(out.dtype)
        lower = jnp.einsum("nkm,nm...->nk...", s.lower, cols)
        top = None if s.top is None else jnp.einsum("pnm,nm...->p...", s.top, cols)
        return _Dense(out, lower, top)

    def dense_contract(self, params, args):
        """`dot_general` of a constant with a jet-carrying operand that it contracts fully
        (a layer's weight times its input): the coefficients stacked on a leading axis of
        one matrix product, which leaves them leading in the result, as the representation
        wants them (a JVP under `vmap` would put them last and transpose back)."""
        split = _split_contraction(params, args, _Dense)
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

        n = d.lower.shape[0]
        lower = apply(d.lower.reshape((-1,) + d.primal.shape))
        lower = lower.reshape((n, self.order - 1) + out.shape)
        top = None if d.top is None else apply(d.top)
        return _Dense(out, lower, top)

    def sparse_reduce_sum(self, s: _Sparse, axes):
        out = jnp.sum(s.primal, axis=axes)
        keep = [a for a in range(s.primal.ndim) if a not in axes]
        if not keep:
            lower = s.lower.sum(-1)
            top = None if s.top is None else s.top.sum((1, 2))
            return _Dense(out, lower, top)
        return _Sparse(out, s.idx[..., keep], s.lower, s.top)

    def sparse_reshape(self, s: _Sparse, new_shape):
        flat = jnp.ravel_multi_index(tuple(jnp.moveaxis(s.idx, -1, 0)), s.primal.shape, mode="clip")
        idx = jnp.stack(jnp.unravel_index(flat, new_shape), axis=-1)
        return _Sparse(s.primal.reshape(new_shape), idx, s.lower, s.top)

    # --- the interpreter ------------------------------------------------------------

    def apply(self, prim, params, args):
        name = prim.name
        if not any(isinstance(a, _Dense | _Sparse) for a in args):
            return prim.bind(*args, **params)
        sub = self.subroutine(prim, params, args)
        if sub is not None:
            return sub
        f = _bind(prim, params)
        if prim.multiple_results:
            raise unsupported_error(name, "default")
        out_aval = jax.eval_shape(
            f, *[a.primal if isinstance(a, _Dense | _Sparse) else a for a in args]
        )
        if not _is_float(out_aval.dtype):
            # Comparisons and integer results carry no derivatives.
            return f(*[a.primal if isinstance(a, _Dense | _Sparse) else a for a in args])
        sparse = [a for a in args if isinstance(a, _Sparse)]
        if sparse:
            result = self.apply_sparse(prim, params, f, args, sparse)
            if result is not None:
                return result
            args = [self.densify(a) if isinstance(a, _Sparse) else a for a in args]
        return self.dense_rule(name, f, args, params)

    def dense_rule(self, name, f, args, params=None):
        pos = [i for i, a in enumerate(args) if isinstance(a, _Dense)]
        linear = (
            name in _LINEAR
            or (name in _BILINEAR and len(pos) == 1)
            or (name in _LINEAR_IN_FIRST and pos == [0])
        )
        if linear:
            if name == "dot_general" and params is not None:
                contracted = self.dense_contract(params, args)
                if contracted is not None:
                    return contracted
            return self.linear(f, args)
        if name not in _JET_RULES and name not in _REWRITES:
            raise unsupported_error(name, "default")
        if self.order > 1 and name in _ELEMENTWISE:
            dense = [a for a in args if isinstance(a, _Dense)]
            if len(pos) == 1 and all(
                jnp.ndim(a) == 0 or jnp.shape(a) == dense[0].primal.shape
                for a in args
                if not isinstance(a, _Dense)
            ):
                i = pos[0]
                unary = name if len(args) == 1 else None  # a closed-form rule applies
                return self.unary(lambda v: f(*args[:i], v, *args[i + 1 :]), dense[0], unary)
            if name == "mul" and len(pos) == 2 and args[0].primal.shape == args[1].primal.shape:
                return self.product(args[0], args[1])
        return self.generic(f, args)

    def apply_sparse(self, prim, params, f, args, sparse):
        name = prim.name
        first = sparse[0]
        if (
            name == "dot_general"
            and len(sparse) == 1
            and not any(isinstance(a, _Dense) for a in args)
        ):
            return self.sparse_contract(prim, params, args)
        if name == "reduce_sum" and len(args) == 1:
            return self.sparse_reduce_sum(first, tuple(params["axes"]))
        if name == "reshape" and len(args) == 1 and params.get("dimensions") is None:
            return self.sparse_reshape(first, tuple(params["new_sizes"]))
        if name in _ELEMENTWISE and not any(isinstance(a, _Dense) for a in args):
            same_idx = all(s.idx is first.idx for s in sparse)
            shapes_ok = all(
                jnp.ndim(a) == 0 or jnp.shape(a) == first.primal.shape
                for a in args
                if not isinstance(a, _Sparse)
            )
            if same_idx and shapes_ok:
                return self.sparse_elementwise(name, f, args, first)
        return None

    def subroutine(self, prim, params, args):
        name = prim.name
        if name in ("jit", "pjit", "closed_call", "core_call", "remat", "checkpoint"):
            jaxpr = params.get("jaxpr") or params.get("call_jaxpr")
            return self.run_closed(jaxpr, args)
        if name == "custom_jvp_call":
            # Taylor mode needs the primal computation, not the custom first-order rule.
            return self.run_closed(params["call_jaxpr"], args)
        if name == "custom_vjp_call":
            return self.run_closed(params["call_jaxpr"], args)
        if name == "scan":
            return self.scan(params, args)
        if name == "cond":
            return self.cond(params, args)
        return None

    def run_closed(self, closed, args):
        jaxpr = getattr(closed, "jaxpr", closed)
        consts = getattr(closed, "consts", ())
        outs = self.run(jaxpr, consts, args)
        return outs

    def scan(self, params, args):
        # Unrolled: Taylor coefficients through a loop with a static trip count.
        body = params["jaxpr"]
        nc, ncarry, length = params["num_consts"], params["num_carry"], params["length"]
        consts, carry, xs = args[:nc], list(args[nc : nc + ncarry]), args[nc + ncarry :]
        ys = []
        steps = range(length - 1, -1, -1) if params["reverse"] else range(length)
        for i in steps:
            x_i = [self.index(x, i) for x in xs]
            outs = self.run_closed(body, list(consts) + carry + x_i)
            carry, y = list(outs[:ncarry]), outs[ncarry:]
            ys.append(y)
        if params["reverse"]:
            ys = ys[::-1]
        stacked = [self.stack([y[k] for y in ys]) for k in range(len(ys[0]) if ys else 0)]
        return carry + stacked

    def index(self, v, i):
        if isinstance(v, _Sparse):
            v = self.densify(v)
        if isinstance(v, _Dense):
            return _Dense(v.primal[i], v.lower[:, :, i], None if v.top is None else v.top[:, i])
        return v[i]

    def stack(self, vs):
        if not any(isinstance(v, _Dense | _Sparse) for v in vs):
            return jnp.stack(vs)
        vs = [self.densify(v) if isinstance(v, _Sparse) else v for v in vs]
        n = self.weight.shape[1]
        dense = [
            v
            if isinstance(v, _Dense)
            else _Dense(v, jnp.zeros((n, self.order - 1) + jnp.shape(v), v.dtype), None)
            for v in vs
        ]
        p = self.weight.shape[0]
        tops = None
        if any(d.top is not None for d in dense):
            tops = jnp.stack(
                [
                    d.top if d.top is not None else jnp.zeros((p,) + d.primal.shape, d.primal.dtype)
                    for d in dense
                ],
                axis=1,
            )
        return _Dense(
            jnp.stack([d.primal for d in dense]), jnp.stack([d.lower for d in dense], axis=2), tops
        )

    def cond(self, params, args):
        # Every branch is evaluated and the result selected, which is exact for a
        # predicate that does not depend on the jets (it has no derivative).
        index, ops = args[0], args[1:]
        if isinstance(index, _Dense | _Sparse):
            raise unsupported_error("cond", "default")
        branches = [self.run_closed(b, list(ops)) for b in params["branches"]]
        outs = []
        for k in range(len(branches[0])):
            cands = [b[k] for b in branches]
            outs.append(
                self.apply(
                    lax.select_n_p,
                    {},
                    [
                        jnp.broadcast_to(
                            index,
                            jnp.shape(
                                cands[0].primal
                                if isinstance(cands[0], _Dense | _Sparse)
                                else cands[0]
                            ),
                        )
                    ]
                    + cands,
                )
            )
        return outs

    def run(self, jaxpr, consts, args):
        env = {}

        def read(v):
            return v.val if isinstance(v, Literal) else env[v]

        for v, c in zip(jaxpr.constvars, consts):
            env[v] = c
        for v, a in zip(jaxpr.invars, args):
            env[v] = a
        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            out = self.apply(eqn.primitive, eqn.params, ins)
            outs = out if eqn.primitive.multiple_results else [out]
            for v, o in zip(eqn.outvars, outs):
                env[v] = o
        return [read(v) for v in jaxpr.outvars]


class TaylorEngine(AbstractTaylorEngine):
    """Collapsed Taylor mode with sparse input tangents (the default engine).

    Exact for every operator, like `JetEngine`, and cheaper: the top coefficient is
    propagated once for all jets, and coordinate directions reach the first linear layer
    as column gathers.
    """

    def propagate(self, fn, x, batches: list[JetBatch]):
        closed = jax.make_jaxpr(fn)(x)
        total = 0.0
        primal = None
        for b in batches:
            k = b.order
            p, n = b.weight.shape
            # Collapsing pays when there are fewer outputs than jets; otherwise each jet
            # keeps its own top coefficient and the weights apply at the end.
            expand = p > n
            weight = jnp.eye(n, dtype=b.weight.dtype) if expand else b.weight
            interp = _Interpreter(k, weight, identity=expand)
            if b.idx is None:
                lower = b.val[:, : k - 1]
                top = weight @ b.val[:, k - 1] if b.top_input else None
                series = _Dense(x, lower, top)
            else:
                top = None
                if b.top_input:
                    top = weight[:, :, None] * b.val[None, :, k - 1, :]
                series = _Sparse(x, b.idx[:, :, None], b.val[:, : k - 1], top)
            (out,) = interp.run(closed.jaxpr, closed.consts, [series])
            if isinstance(out, _Sparse):
                out = interp.densify(out)
            if isinstance(out, _Dense):
                primal = out.primal
                if out.top is not None:
                    total = total + (b.weight @ out.top if expand else out.top)
                if b.lower_weight is not None:
                    # `out.lower` is (n, K - 1): the lower coefficients of every jet.
                    total = total + jnp.einsum("pkn,nk->p", b.lower_weight, out.lower)
            else:
                primal = out
        if primal is None:
            primal = fn(x)
        p = batches[0].weight.shape[0] if batches else 1
        return primal, jnp.broadcast_to(jnp.asarray(total, x.dtype), (p,))
