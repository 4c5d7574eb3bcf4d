"""Field networks $\\mathbb{R}^n \\to \\mathbb{R}$: MLP, weight-shared MLP, residual MLP,
window MLP.

All are written with `eqx.nn.Linear` (`W @ x + b`) and elementwise activations only, so the
Taylor engine sees dot_general/add/tanh/...: a sparse input tangent $e_j$ through the first
layer becomes the column gather $W[:, j]$.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from stde._checks import check_int, check_number, check_point

from ._base import AbstractField
from ._custom_types import Activation, Key, Point, Scalar
from ._misc import (
    check_dtype,
    default_gain,
    kaiming_linear,
    resolve_activation,
)


def _build_layers(sizes, fan_ins, gain, dtype, key):
    keys = jax.random.split(key, len(sizes) - 1)
    return tuple(
        kaiming_linear(i, o, fan_in=f, gain=gain, dtype=dtype, key=k)
        for i, o, f, k in zip(sizes[:-1], sizes[1:], fan_ins, keys, strict=True)
    )


def _dtype_name(layers) -> str:
    return jnp.dtype(layers[0].weight.dtype).name


def _set_fields(net, in_size, width, depth, activation, gain, min_depth) -> None:
    """Check and set `in_size`, `width`, `depth`, `activation` and `gain` (default from
    the activation) on `net`."""
    net.in_size = check_int(in_size, "in_size")
    net.width = check_int(width, "width")
    net.depth = check_int(depth, "depth", minimum=min_depth)
    resolve_activation(activation)
    net.activation = activation
    gain = default_gain(activation) if gain is None else gain
    net.gain = check_number(gain, "gain", sign="positive")


def _init_fields(
    net, in_size, width, depth, activation, gain, dtype, key, *, first_in=None, min_depth=1
):
    """Check and set the fields every network here shares; return its linear layers,
    Kaiming-initialised. `first_in` is the first layer's input size where it differs from
    its fan-in `in_size` (`SharedMLP`'s block)."""
    _set_fields(net, in_size, width, depth, activation, gain, min_depth)
    sizes = [first_in or in_size] + [width] * (depth - 1) + ["scalar"]
    fan_ins = [in_size] + [width] * (depth - 1)
    return _build_layers(sizes, fan_ins, net.gain, check_dtype(dtype), key)


def _hyperparameters(net, **extra) -> dict[str, Any]:
    return dict(
        in_size=net.in_size,
        **extra,
        width=net.width,
        depth=net.depth,
        activation=net.activation,
        gain=net.gain,
        dtype=_dtype_name(net.layers),
    )


class MLP(AbstractField):
    """Multilayer perceptron $\\mathbb{R}^n \\to \\mathbb{R}$, the published STDE architecture.

    `depth` linear layers in total: `in_size -> width -> ... -> width -> 1` (depth=4 gives
    d -> 128 -> 128 -> 128 -> 1), the activation after every layer but the last.

    Initialisation is Kaiming-uniform with an activation gain, as PyTorch's
    `kaiming_uniform_(w, nonlinearity=...)`: $W \\sim U(-b, b)$ with
    $b = \\text{gain} \\sqrt{3 / \\text{fan_in}}$, zero biases. Gains: tanh 5/3, silu and
    gelu $\\sqrt 2$, sin and callables 1 (override with `gain=`). This is not PyTorch's
    default `nn.Linear` init ($b = 1/\\sqrt{\\text{fan_in}}$ for weights and biases).
    """

    layers: tuple[eqx.nn.Linear, ...]
    in_size: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: Activation = eqx.field(static=True)
    gain: float = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        width: int = 128,
        depth: int = 4,
        activation: Activation = "tanh",
        *,
        gain: float | None = None,
        dtype=None,
        key: Key,
    ):
        """**Arguments:**

        - `in_size`: input dimension $n$.
        - `width`: hidden width.
        - `depth`: number of linear layers in total (>= 1; 1 is an affine map).
        - `activation`: "tanh", "sin", "silu" (x sigmoid x), "gelu" (tanh approximation) or
          an elementwise callable (a callable makes `models.save` need `like=` to load).
        - `gain`: Kaiming gain; default from the activation.
        - `dtype`: parameter dtype; default JAX's default float.
        - `key`: PRNG key for the initialisation.
        """
        self.layers = _init_fields(self, in_size, width, depth, activation, gain, dtype, key)

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="MLP")
        act = resolve_activation(self.activation)
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)

    def hyperparameters(self) -> dict[str, Any]:
        return _hyperparameters(self)


class SharedMLP(AbstractField):
    """MLP whose first layer's weight is shared over blocks of `block_size` input coordinates.

    The first layer equals a dense layer whose weight is the tile of one
    `(width, block_size)` matrix along the input axis:
    $W_\\text{dense} = [W, W, \\dots, W]$, so $W_\\text{dense} x = W \\sum_j x_{[jB:(j+1)B]}$.
    It is computed that way (`x.reshape(n // B, B).sum(0)` then a `B -> width` layer), so
    the parameter count does not grow with $n$. Requires `in_size % block_size == 0`.

    Initialisation as `models.MLP`, except the shared weight's fan-in is `in_size` (the
    dense-equivalent fan-in), so pre-activations have the same scale as a dense first layer
    for independent inputs.
    """

    layers: tuple[eqx.nn.Linear, ...]
    in_size: int = eqx.field(static=True)
    block_size: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: Activation = eqx.field(static=True)
    gain: float = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        block_size: int = 1,
        width: int = 128,
        depth: int = 4,
        activation: Activation = "tanh",
        *,
        gain: float | None = None,
        dtype=None,
        key: Key,
    ):
        """**Arguments:** as `models.MLP`, plus `block_size` $B$, which must divide `in_size`.

        **Raises:** `ValueError` if `in_size % block_size != 0`.
        """
        self.in_size = check_int(in_size, "in_size")
        self.block_size = check_int(block_size, "block_size")
        if in_size % block_size != 0:
            raise ValueError(
                f"`SharedMLP` needs `in_size` divisible by `block_size`; got in_size={in_size}, "
                f"block_size={block_size}. Choose a block size that divides the dimension."
            )
        self.layers = _init_fields(
            self, in_size, width, depth, activation, gain, dtype, key, first_in=block_size
        )

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="SharedMLP")
        # Block sum: reshape and reduce_sum are linear, so a sparse tangent e_j stays one
        # nonzero (at j mod B) after this line.
        x = x.reshape(self.in_size // self.block_size, self.block_size).sum(axis=0)
        act = resolve_activation(self.activation)
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)

    def hyperparameters(self) -> dict[str, Any]:
        return _hyperparameters(self, block_size=self.block_size)


class ResidualMLP(AbstractField):
    """MLP with identity skip connections around each hidden `width -> width` layer.

    $h_1 = \\sigma(W_1 x + b_1)$, $h_{i+1} = h_i + \\sigma(W_{i+1} h_i + b_{i+1})$,
    $u = w^\\top h + b$; `depth` linear layers in total (>= 2). Initialisation as
    `models.MLP`.
    """

    layers: tuple[eqx.nn.Linear, ...]
    in_size: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: Activation = eqx.field(static=True)
    gain: float = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        width: int = 128,
        depth: int = 4,
        activation: Activation = "tanh",
        *,
        gain: float | None = None,
        dtype=None,
        key: Key,
    ):
        """**Arguments:** as `models.MLP`; `depth` >= 2."""
        self.layers = _init_fields(
            self, in_size, width, depth, activation, gain, dtype, key, min_depth=2
        )

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="ResidualMLP")
        act = resolve_activation(self.activation)
        h = act(self.layers[0](x))
        for layer in self.layers[1:-1]:
            h = h + act(layer(h))
        return self.layers[-1](h)

    def hyperparameters(self) -> dict[str, Any]:
        return _hyperparameters(self)


class WindowMLP(AbstractField):
    """A sum over windows of consecutive coordinates of one shared MLP, read out per window.

    $N(x) = b + \\sum_{i=1}^{n-w+1} a_i^\\top g(x_i, \\dots, x_{i+w-1})$, where
    $g: \\mathbb{R}^w \\to \\mathbb{R}^m$ is one MLP shared by every window (its every layer
    activated, `width` hidden units, `features` $m$ outputs) and $a_i \\in \\mathbb{R}^m$ is
    window $i$'s own readout (one `eqx.nn.Linear` from the $(n - w + 1) m$ features to the
    output, so `models.output_bias` and `models.zero_last` apply as to `models.MLP`).

    Use it where the solution couples each coordinate with its next $w - 1$ neighbours only
    (a chain: the ball catalogue's two-body solution is such a sum with $w = 2$, its
    three-body one with $w = 3$), an assumption on the solution that a dense first layer
    does not make. What it buys: $g$ is learned from every window of every point at once,
    where a dense layer must find the coupled coordinates among all $n$ (about four tanh
    units per three-coordinate product, each aligned with its three coordinates), and the
    parameters grow as $n m$, not $n \\times$ `width`. A jet along one coordinate costs
    the $w$ windows that coordinate reaches (the default engine keeps its tangent sparse
    by rows through the slices, the stack and the shared layers), about what a dense first
    layer's column costs.

    With `centred=True` each window reads out $g(\\cdot) - g(0)$: the same functions
    (the difference is a constant, which the output bias $b$ takes), but the readouts'
    Jacobian columns lose their common part. Where the coordinates are small (the unit
    ball in high d) every window sees nearly $g(0)$, so without centring all $n - w + 1$
    readout columns are nearly one column, and a Gauss-Newton system over the readouts
    is too ill-conditioned for float32 (fitting the readouts of a d = 100 network at
    d = 1000 that way, Poisson: 0.065 of the trivial fit uncentred, 0.0002 centred).

    `depth` linear layers in total, readout included (>= 2): `depth=3` is
    $w \\to$ `width` $\\to m \\to$ readout. The inputs of $g$ are multiplied by `scale`
    (`zoo.ModelConfig.scale` sets it so they are O(1)). Initialisation: the shared layers as
    `models.MLP`, each layer's fan-in its own input size; the readout at zero, so the
    network starts as a constant (with the inputs scaled up, a random readout would start
    with second derivatives of size `scale`$^2$).
    """

    layers: tuple[eqx.nn.Linear, ...]
    readout: eqx.nn.Linear
    in_size: int = eqx.field(static=True)
    window: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    features: int = eqx.field(static=True)
    scale: float = eqx.field(static=True)
    centred: bool = eqx.field(static=True)
    activation: Activation = eqx.field(static=True)
    gain: float = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        window: int = 2,
        width: int = 64,
        depth: int = 3,
        features: int = 1,
        activation: Activation = "tanh",
        *,
        scale: float = 1.0,
        centred: bool = False,
        gain: float | None = None,
        dtype=None,
        key: Key,
    ):
        """**Arguments:** as `models.MLP`, plus `window` $w$ (consecutive coordinates per
        window, `1 <= window <= in_size`), `features` $m$ (outputs of the shared MLP
        read out per window), `scale` and `centred` (above); `depth` >= 2.

        **Raises:** `ValueError` if `window > in_size`.
        """
        _set_fields(self, in_size, width, depth, activation, gain, min_depth=2)
        self.window = check_int(window, "window")
        self.features = check_int(features, "features")
        self.scale = check_number(scale, "scale", sign="positive")
        if not isinstance(centred, bool):
            raise ValueError(f"`centred` must be a bool, got {centred!r}.")
        self.centred = centred
        if window > in_size:
            raise ValueError(
                f"`WindowMLP` needs `window <= in_size`; got window={window}, "
                f"in_size={in_size}. A window as wide as the input is one MLP."
            )
        sizes = [window] + [width] * (depth - 2) + [features]
        windows = in_size - window + 1
        self.layers = _build_layers(sizes, sizes[:-1], self.gain, check_dtype(dtype), key)
        # The readout starts at zero: the network starts as the constant b, with no
        # second derivatives of size scale^2 for the first steps to undo.
        readout = eqx.nn.Linear(windows * features, "scalar", dtype=check_dtype(dtype), key=key)
        self.readout = eqx.tree_at(
            lambda lin: (lin.weight, lin.bias), readout, replace_fn=jnp.zeros_like
        )

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="WindowMLP")
        windows = self.in_size - self.window + 1
        # Row i is (x_i, ..., x_{i+w-1}): w slices, all linear, so the jet rules see
        # slice/concatenate and every window's MLP runs as one batched matmul.
        h = self.scale * jnp.stack([x[j : j + windows] for j in range(self.window)], axis=-1)
        act = resolve_activation(self.activation)

        def g(h):
            for layer in self.layers:
                h = act(h @ layer.weight.T + layer.bias)
            return h

        h = g(h)
        if self.centred:
            # g(0): one more window's worth of work, constant in x (no jet flows through it).
            h = h - g(jnp.zeros((1, self.window), h.dtype))
        return self.readout(h.reshape(-1))

    def resized(self, in_size: int, *, scale: float, centred: bool | None = None) -> "WindowMLP":
        """The same shared MLP $g$ over `in_size` inputs, with input scale `scale`, a
        new readout at zero (there is one per window, so none carries over), centred as
        `centred` (None: as this network).

        $g$ does not depend on the number of inputs: learned at one dimension, it is a
        start at another (the ball catalogue's pair and triple functions are one
        function of the window at every d; on the unit ball the coordinates shrink like
        $1/\\sqrt{d}$, and a `scale` growing like $\\sqrt{d}$ shows $g$ inputs of the
        size it learned on).

        **Raises:** `ValueError` if `window > in_size`.
        """
        new = WindowMLP(
            in_size,
            self.window,
            self.width,
            self.depth,
            self.features,
            self.activation,
            scale=scale,
            centred=self.centred if centred is None else centred,
            gain=self.gain,
            dtype=self.readout.weight.dtype,
            key=jax.random.PRNGKey(0),  # Only for shapes: the layers are replaced.
        )
        return eqx.tree_at(lambda m: m.layers, new, self.layers)

    def hyperparameters(self) -> dict[str, Any]:
        return _hyperparameters(
            self, window=self.window, features=self.features, scale=self.scale, centred=self.centred
        )
