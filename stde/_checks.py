"""Argument checks shared by `stde`, `pdes`, `models` and `zoo` (internal, not public API).

They live at the bottom layer so that every package words the same mistake the same way:
a `ValueError` that names the argument in backticks, says what was expected and what was
received (the policy in `tests/BAD_INPUT.md`). `where`, when given, prefixes the message
with the entry point (`"`BallPDE.forcing`: `x` must ..."`).

Array checks look at shapes and dtypes only, which are static, so they run at trace time
and work under `jax.jit`.
"""

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def is_int(value) -> bool:
    """Whether `value` is a Python `int` and not a `bool` (which subclasses `int`)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value) -> bool:
    """Whether `value` is a Python `int` or `float` and not a `bool`; it may be NaN or inf."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(
    value, name: str, *, minimum: int = 1, where: str = "", optional: bool = False
) -> int | None:
    """`value` if it is an int >= `minimum` (or None when `optional`), else a `ValueError`."""
    if optional and value is None:
        return None
    if not is_int(value) or value < minimum:
        expected = f"an int >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{_prefix(where)}`{name}` must be {expected}, got {value!r}.")
    return value


_SIGNS = {
    "any": ("a finite number", lambda v: True),
    "positive": ("positive and finite", lambda v: v > 0),
    "nonnegative": (">= 0 and finite", lambda v: v >= 0),
}


def check_number(
    value, name: str, *, sign: Literal["any", "positive", "nonnegative"] = "any", where: str = ""
) -> float:
    """`value` as a float if it is a finite real number of that sign, else a `ValueError`."""
    expected, ok = _SIGNS[sign]
    if not (is_real(value) and math.isfinite(value) and ok(value)):
        raise ValueError(f"{_prefix(where)}`{name}` must be {expected}, got {value!r}.")
    return float(value)


def check_point(x, size: int | None = None, name: str = "x", where: str = "") -> Array:
    """`x` as an array if it is one floating-point point of shape `(size,)` (any `(n,)`, n >= 1,
    when `size` is None), else a `ValueError`."""
    x = jnp.asarray(x)
    ok = x.shape == (size,) if size is not None else x.ndim == 1 and x.shape[0] >= 1
    if not ok:
        expected = "n" if size is None else size
        raise ValueError(
            f"{_prefix(where)}`{name}` must have shape ({expected},), got {x.shape}. Pass one "
            "point at a time; use `jax.vmap` for a batch."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(
            f"{_prefix(where)}`{name}` must be a floating-point array, got dtype {x.dtype}."
        )
    return x


def check_points(x, size: int, name: str = "x", where: str = "") -> Array:
    """`x` as an array if it has shape `(n, size)`, else a `ValueError`."""
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != size:
        raise ValueError(f"{_prefix(where)}`{name}` must have shape (n, {size}), got {x.shape}.")
    return x


def check_key(key, name: str = "key", where: str = "") -> None:
    """A `ValueError` unless `key` is one PRNG key, typed (`jax.random.key`) or raw
    (`jax.random.PRNGKey`)."""
    is_array = isinstance(key, jax.Array)
    typed = is_array and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()
    raw = is_array and key.dtype == jnp.uint32 and key.shape in ((2,), (4,))
    if not (typed or raw):
        shown = f"an array of shape {key.shape} and dtype {key.dtype}" if is_array else key
        raise ValueError(
            f"{_prefix(where)}`{name}` must be one PRNG key (`jax.random.key(seed)` or "
            f"`jax.random.PRNGKey(seed)`), got {shown!r}; for a batch, vmap over split keys."
        )
