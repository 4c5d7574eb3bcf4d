"""Small private helpers: activations, initialisation, dtype validation."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from ._custom_types import Activation, Key


def _silu(x):
    # x * sigmoid(x) written with tanh only: sigmoid(x) = (1 + tanh(x/2)) / 2. Keeps the forward
    # pass within the primitives that the Taylor engine propagates (tanh, mul, add).
    return 0.5 * x * (1.0 + jnp.tanh(0.5 * x))


def _gelu(x):
    # The tanh approximation of GELU (Hendrycks & Gimpel 2016; jax.nn.gelu(approximate=True)),
    # rather than the erf form: erf has no Taylor rule in most jet engines.
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + jnp.tanh(c * (x + 0.044715 * x**3)))


ACTIVATIONS = {"tanh": jnp.tanh, "sin": jnp.sin, "silu": _silu, "gelu": _gelu}

# Kaiming gains. tanh: 5/3 (PyTorch `calculate_gain("tanh")`); silu and gelu are ReLU-like,
# so sqrt(2); sin and unknown callables: 1 (a linear-regime gain).
GAINS = {"tanh": 5.0 / 3.0, "sin": 1.0, "silu": math.sqrt(2.0), "gelu": math.sqrt(2.0)}


def resolve_activation(activation: Activation):
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(
            f"`activation` must be one of {sorted(ACTIVATIONS)} or a callable, got {activation!r}."
        ) from None


def default_gain(activation: Activation) -> float:
    return GAINS.get(activation, 1.0) if isinstance(activation, str) else 1.0


def kaiming_linear(
    in_size: int | str,
    out_size: int | str,
    *,
    fan_in: int,
    gain: float,
    dtype,
    key: Key,
) -> eqx.nn.Linear:
    """An `eqx.nn.Linear` with weight ~ U(-b, b), b = gain * sqrt(3 / fan_in), zero bias."""
    linear = eqx.nn.Linear(in_size, out_size, use_bias=True, dtype=dtype, key=key)
    bound = gain * math.sqrt(3.0 / fan_in)
    weight = jax.random.uniform(
        key, linear.weight.shape, linear.weight.dtype, minval=-bound, maxval=bound
    )
    bias = jnp.zeros_like(linear.bias)
    return eqx.tree_at(lambda lin: (lin.weight, lin.bias), linear, (weight, bias))


def check_dtype(dtype):
    """`dtype` (None for JAX's default) if it is a floating-point dtype, else a `ValueError`."""
    if dtype is None:
        return None
    try:
        shown = jnp.dtype(dtype).name
        floating = jnp.issubdtype(jnp.dtype(dtype), jnp.floating)
    except TypeError:
        shown, floating = repr(dtype), False
    if not floating:
        raise ValueError(
            f"`dtype` must be a floating-point dtype such as jnp.float32, got {shown}."
        )
    return dtype
