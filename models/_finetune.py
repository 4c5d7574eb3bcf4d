"""Filter specs for fine-tuning: which parameters train, as pytrees outside the model."""

from typing import Any, Literal, get_args

import equinox as eqx
import jax

# The one vocabulary for a selection of parameters, here (`which`: what trains) and in the
# zoo (`freeze`: what is frozen, the complement): everything, nothing, or the first / last
# `eqx.nn.Linear` alone or everything but it.
Which = Literal["all", "none", "first", "last", "all-but-first", "all-but-last"]
_ALIASES = {"none-but-first": "first", "none-but-last": "last"}
_WHICH = (*get_args(Which), *_ALIASES)


def complement(which: str) -> str:
    """The selection of every parameter that `which` leaves out: `"all"` <-> `"none"`,
    `"first"` <-> `"all-but-first"`, `"last"` <-> `"all-but-last"`."""
    if which not in _WHICH:
        raise ValueError(f"`which` must be one of {list(_WHICH)}, got {which!r}.")
    which = _ALIASES.get(which, which)
    if which in ("all", "none"):
        return "none" if which == "all" else "all"
    return which.removeprefix("all-but-") if which.startswith("all-but-") else f"all-but-{which}"


def _is_linear(node) -> bool:
    return isinstance(node, eqx.nn.Linear)


def _mark(model, which: str, train, freeze, other):
    """Map each inexact-array leaf to `train`/`freeze` and every other leaf to `other`."""
    if which not in _WHICH:
        raise ValueError(f"`which` must be one of {list(_WHICH)}, got {which!r}.")
    which = _ALIASES.get(which, which)
    linears = [n for n in jax.tree_util.tree_leaves(model, is_leaf=_is_linear) if _is_linear(n)]
    if which not in ("all", "none") and not linears:
        raise ValueError(
            f"`which={which!r}` refers to linear layers, but `model` has no `eqx.nn.Linear`."
        )
    # "First"/"last" are the first/last `eqx.nn.Linear` in pytree order, which is the order
    # of application for every network in `models`.
    chosen = None
    if which.endswith("first"):
        chosen = linears[0]
    elif which.endswith("last"):
        chosen = linears[-1]
    everything_else = which == "all" or which.startswith("all-but")

    def linear_trainable(n) -> bool:
        if which in ("all", "none"):
            return which == "all"
        return (n is chosen) != which.startswith("all-but")

    def leaf(x, trainable):
        if not eqx.is_inexact_array(x):
            return other
        return train if trainable else freeze

    def node(n):
        if _is_linear(n):
            trainable = linear_trainable(n)
            return jax.tree_util.tree_map(lambda x: leaf(x, trainable), n)
        return leaf(n, everything_else)

    return jax.tree_util.tree_map(node, model, is_leaf=_is_linear)


def trainable_spec(model: Any, which: str = "all") -> Any:
    """A filter spec: the same structure as `model`, `True` on the parameters to train.

    **Arguments:**

    - `model`: any pytree of parameters (a `models` field, or your Module containing one).
    - `which`: `"all"`; `"none"`; `"first"` / `"last"` (only the first / last
      `eqx.nn.Linear`, in pytree order; aliases `"none-but-first"` / `"none-but-last"`);
      `"all-but-first"` / `"all-but-last"`. Arrays outside linear layers (e.g.
      `FourierFeatures.frequencies`) train only under `"all"` and `"all-but-..."`.

    **Returns:** a pytree of bools for `eqx.partition(model, spec)`; non-array leaves are
    `False`.
    """
    return _mark(model, which, True, False, False)


def freeze_labels(model: Any, which: str = "all") -> Any:
    """Labels `"train"` / `"freeze"` for `optax.multi_transform`, chosen as `trainable_spec`.

    The labels match `eqx.filter(model, eqx.is_inexact_array)`: a label at each inexact
    array, `None` elsewhere. The label tree has the model's structure, so it is itself an
    (callable) Equinox Module, and optax calls a callable `param_labels`; pass it wrapped:

    ```python
    labels = models.freeze_labels(model, "last")
    opt = optax.multi_transform(
        {"train": optax.adam(1e-3), "freeze": optax.set_to_zero()}, lambda _: labels
    )
    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    ```
    """
    return _mark(model, which, "train", "freeze", None)


def _last_linear(model: Any, purpose: str) -> eqx.nn.Linear:
    linears = [n for n in jax.tree_util.tree_leaves(model, is_leaf=_is_linear) if _is_linear(n)]
    if not linears:
        raise ValueError(f"`model` has no `eqx.nn.Linear` layer {purpose}.")
    return linears[-1]


def output_bias(model: Any) -> Any:
    """The bias of the last `eqx.nn.Linear` (in pytree order, the output layer of every
    network in `models`), as a getter for `eqx.tree_at`.

    **Raises:** `ValueError` if `model` has no linear layer or the last one has no bias.
    """
    bias = _last_linear(model, "to take the output bias from").bias
    if bias is None:
        raise ValueError("The last `eqx.nn.Linear` of `model` has no bias.")
    return bias


def zero_last(model: Any) -> Any:
    """`model` with the weight and bias of its last `eqx.nn.Linear` (in pytree order, the
    output layer of every network in `models`) set to zero.

    The network then outputs 0 and keeps every learned feature: fine-tuning to a PDE whose
    solution has another amplitude starts from the features rather than from the old
    output, which Adam's bounded steps can be slow to move.
    """

    def last(m):
        layer = _last_linear(m, "to set to zero")
        return [layer.weight] + ([] if layer.bias is None else [layer.bias])

    return eqx.tree_at(last, model, replace_fn=jax.numpy.zeros_like)
