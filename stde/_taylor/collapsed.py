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
primitives, reshapes, partial sums, static slices, stacks and concatenations; a matrix
product that contracts them gathers columns instead of multiplying by a one-hot, and a
constant applied to the rows of a sparse array keeps it sparse by rows (`Sparse` with
fewer indexed axes: a layer run on every window of coordinates touches the rows a
coordinate reaches only). Anything else densifies, which is correct but costs O(n d)
memory.

Each primitive has one rule (`rules.py`; users register their own with
`stde.rules.register_rule`); those without one use their `jax.experimental.jet` rule. Calls
(`jit`, `custom_jvp` functions such as relu, softplus and silu) are inlined. The values
are pytrees, so `scan`, `while_loop` and `cond` run as themselves, with the jets in their
carries and operands: a scan over 32 layers is traced and compiled once, not 32 times, and
a `cond` evaluates the taken branch only.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._jets import JetBatch
from ._values import Dense, Jets, Sparse, is_float, is_jet
from .base import AbstractTaylorEngine
from .rules import Rule, lookup, register_rule

try:
    from jax.extend.core import Literal
except ImportError:  # older JAX
    from jax.core import Literal


class _Interpreter:
    def __init__(self, jets: Jets):
        self.jets = jets

    def apply(self, prim, params, args):
        if not any(is_jet(a) for a in args):
            return prim.bind(*args, **params)
        return lookup(prim)(self, prim, params, args)

    def run_closed(self, closed, args):
        jaxpr = getattr(closed, "jaxpr", closed)
        consts = getattr(closed, "consts", ())
        return self.run(jaxpr, consts, args)

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


# --- calls and control flow --------------------------------------------------------


class _Inline(Rule):
    """A call runs its body in place; for `custom_jvp`/`custom_vjp` functions Taylor mode
    needs the primal computation, not the custom first-order rule."""

    def __call__(self, interp, prim, params, args):
        return interp.run_closed(params.get("jaxpr") or params.get("call_jaxpr"), args)


def _carry_kinds(jets: Jets, body, init, *operands) -> list:
    """The types of a loop's carries: the same going in and coming out, so a carry that
    starts without jets (or with a zero top) but gets them in the body starts with zeros.
    Widened until the body keeps them (each carry at most twice)."""
    kinds = [jets.kind(c) for c in init]
    # Carries with a top, and integer ones, cannot widen: then the body need not be traced
    # an extra time (a scan over layers carries activations that have a top).
    if all(k or not is_float(c) for c, k in zip(init, kinds)):
        return kinds
    while True:
        carry = [jets.promote(jets.densify(c), k) for c, k in zip(init, kinds)]
        out = jax.eval_shape(body, carry, *operands)
        widened = [jets.join(k, jets.kind(o)) for k, o in zip(kinds, out)]
        if widened == kinds:
            return kinds
        kinds = widened


def _as(jets: Jets, values, kinds):
    return [jets.promote(jets.densify(v), k) for v, k in zip(values, kinds)]


def _scanned_axis_first(v):
    """A scanned operand with jets: the scanned axis (primal axis 0) leading everywhere,
    so that `scan`'s slices are values of the usual layout."""
    if not is_jet(v):
        return v
    top = None if v.top is None else jnp.moveaxis(v.top, 1, 0)
    return Dense(v.primal, jnp.moveaxis(v.lower, 2, 0), top)


def _stacked_axis_back(v):
    if not is_jet(v):
        return v
    top = None if v.top is None else jnp.moveaxis(v.top, 0, 1)
    return Dense(v.primal, jnp.moveaxis(v.lower, 0, 2), top)


class _Scan(Rule):
    def __call__(self, interp, prim, params, args):
        jets = interp.jets
        nc, ncarry = params["num_consts"], params["num_carry"]
        consts, init, xs = args[:nc], args[nc : nc + ncarry], args[nc + ncarry :]
        # Constants are closed over (not scan operands): a sparse input keeps its
        # coordinates, and the scan lifts whatever the body uses.
        xs = [_scanned_axis_first(jets.densify(x)) for x in xs]

        def body(carry, x):
            outs = interp.run_closed(params["jaxpr"], [*consts, *carry, *x])
            return outs[:ncarry], [jets.densify(y) for y in outs[ncarry:]]

        x0 = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), xs)
        kinds = _carry_kinds(jets, lambda c, x: body(c, x)[0], init, x0)

        def step(carry, x):
            carry, ys = body(carry, x)
            return _as(jets, carry, kinds), ys

        carry, ys = lax.scan(
            step,
            _as(jets, init, kinds),
            xs,
            length=params["length"],
            reverse=params["reverse"],
            unroll=params["unroll"],
        )
        return carry + [_stacked_axis_back(y) for y in ys]


class _While(Rule):
    """A `while_loop` with the jets in its carry. The predicate is a boolean and carries
    none: the coefficients are those of the iterations that run (as `jax.jvp` has them),
    exact wherever the trip count does not change with the input, e.g. a fixed one."""

    def __call__(self, interp, prim, params, args):
        jets = interp.jets
        cn, bn = params["cond_nconsts"], params["body_nconsts"]
        cond_consts, body_consts, init = args[:cn], args[cn : cn + bn], args[cn + bn :]

        def cond(carry):
            return interp.run_closed(params["cond_jaxpr"], [*cond_consts, *carry])[0]

        def body(carry):
            return interp.run_closed(params["body_jaxpr"], [*body_consts, *carry])

        kinds = _carry_kinds(jets, body, init)
        return lax.while_loop(cond, lambda c: _as(jets, body(c), kinds), _as(jets, init, kinds))


class _Cond(Rule):
    """`cond`/`switch` on an integer index (no jets: its derivative is zero) with the
    jets in the operands: only the taken branch runs."""

    def __call__(self, interp, prim, params, args):
        jets = interp.jets
        index, ops = args[0], args[1:]
        branches = [functools.partial(interp.run_closed, b, ops) for b in params["branches"]]
        # The branches' outputs must have one type: the widest any branch gives.
        kinds = None
        for branch in branches:
            out = [jets.kind(o) for o in jax.eval_shape(branch)]
            kinds = out if kinds is None else [jets.join(a, b) for a, b in zip(kinds, out)]
        return lax.switch(index, [lambda b=b: _as(jets, b(), kinds) for b in branches])


for _name in ("jit", "pjit", "closed_call", "core_call", "remat", "checkpoint"):
    register_rule(_name, _Inline())
register_rule("custom_jvp_call", _Inline())
register_rule("custom_vjp_call", _Inline())
register_rule("scan", _Scan())
register_rule("while", _While())
register_rule("cond", _Cond())


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
            jets = Jets(k, weight, identity=expand)
            interp = _Interpreter(jets)
            if b.idx is None:
                lower = b.val[:, : k - 1]
                top = weight @ b.val[:, k - 1] if b.top_input else None
                series = Dense(x, lower, top)
            else:
                top = None
                if b.top_input:
                    top = weight[:, :, None] * b.val[None, :, k - 1, :]
                series = Sparse(x, b.idx[:, :, None], b.val[:, : k - 1], top)
            (out,) = interp.run(closed.jaxpr, closed.consts, [series])
            out = jets.densify(out)
            if isinstance(out, Dense):
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
