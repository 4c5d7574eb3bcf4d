"""Which primitives an engine can push jets through, checked before tracing fails."""

import jax
from jax.experimental import jet

try:
    from jax.extend.core import ClosedJaxpr, Jaxpr
except ImportError:  # older JAX
    from jax.core import ClosedJaxpr, Jaxpr

_HINTS = {
    "custom_jvp_call": "it wraps functions such as `jax.nn.relu`, `jax.nn.softplus` and "
    "`jax.nn.silu`; the default engine inlines it",
    "custom_vjp_call": "a custom VJP hides the primal computation from Taylor mode",
    "scan": "the default engine runs loops (`lax.scan`, `lax.fori_loop` with a static trip "
    "count) as loops",
    "while": "the default engine runs `lax.while_loop` as a loop",
    "atan": "`jnp.arctan`; the default engine has a rule for it",
}


def subjaxprs(params):
    for value in params.values():
        for v in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(v, ClosedJaxpr):
                yield v.jaxpr
            elif isinstance(v, Jaxpr):
                yield v


def primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in subjaxprs(eqn.params):
            names |= primitives(sub)
    return names


def unsupported_error(name: str, engine: str) -> ValueError:
    hint = _HINTS.get(name, "")
    return ValueError(
        f"The `{engine}` Taylor engine cannot propagate jets through the primitive "
        f"`{name}`{' (' + hint + ')' if hint else ''}. Rewrite the function with supported "
        "operations (jnp arithmetic, tanh/sin/exp/log/..., matmul, reshape, sums), or "
        "pass `engine=stde.TaylorEngine()`, which supports more primitives."
    )


def check_supported(fn, x, engine: str):
    jaxpr = jax.make_jaxpr(fn)(x).jaxpr
    known = {p.name for p in jet.jet_rules}
    for name in sorted(primitives(jaxpr)):
        if name not in known:
            raise unsupported_error(name, engine)
