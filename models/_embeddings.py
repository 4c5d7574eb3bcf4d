"""Input embeddings, the wrapper that puts one in front of a field network, and the radial
term beside one."""

import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from stde._ansatz import _sq_norm
from stde._checks import check_int, check_number, check_point, is_int

from ._base import AbstractEmbedding, AbstractField
from ._custom_types import Key, Point, Scalar
from ._misc import check_dtype


class FourierFeatures(AbstractEmbedding):
    """Random Fourier features $x \\mapsto [\\cos(2\\pi B x), \\sin(2\\pi B x)]$.

    $B$ has shape `(num_features, in_size)`, entries $N(0, \\text{scale}^2)$ (Tancik et al.
    2020). $B$ is an ordinary array field, so it is trained unless frozen: freeze it with
    `models.trainable_spec` / `models.freeze_labels` (no flags inside modules).
    """

    frequencies: Float[Array, "num_features in_size"]
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    num_features: int = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def __init__(
        self, in_size: int, num_features: int, scale: float = 1.0, *, dtype=None, key: Key
    ):
        """**Arguments:** `in_size`; `num_features` (output size is twice this); `scale`,
        the standard deviation of $B$; `dtype`; `key` to draw $B$."""
        self.in_size = check_int(in_size, "in_size")
        self.num_features = check_int(num_features, "num_features")
        self.out_size = 2 * num_features
        self.scale = check_number(scale, "scale", sign="positive")
        dtype = check_dtype(dtype)
        dtype = jnp.zeros((), dtype).dtype if dtype is not None else jnp.zeros(()).dtype
        self.frequencies = self.scale * jax.random.normal(key, (num_features, in_size), dtype)

    def __call__(self, x: Point) -> Float[Array, " out_size"]:
        x = check_point(x, self.in_size, where="FourierFeatures")
        z = 2 * math.pi * (self.frequencies @ x)
        return jnp.concatenate([jnp.cos(z), jnp.sin(z)])

    def hyperparameters(self) -> dict[str, Any]:
        return dict(
            in_size=self.in_size,
            num_features=self.num_features,
            scale=self.scale,
            dtype=jnp.dtype(self.frequencies.dtype).name,
        )


def _check_coords(coords, in_size: int) -> tuple[int, ...]:
    given = coords
    try:
        coords = tuple(coords)
    except TypeError:
        raise ValueError(
            f"`coords` must be a tuple of coordinate indices, e.g. (0,), got {given!r}."
        ) from None
    if (
        not coords
        or not all(is_int(c) for c in coords)
        or len(set(coords)) != len(coords)
        or any(not 0 <= c < in_size for c in coords)
    ):
        raise ValueError(
            f"`coords` must be a non-empty tuple of distinct coordinate indices in "
            f"[0, {in_size}), got {coords!r}."
        )
    return coords


class PeriodicEmbedding(AbstractEmbedding):
    """Makes chosen coordinates periodic with period $P$ by a sine/cosine embedding.

    $x_c \\mapsto [\\cos(2\\pi k x_c / P), \\sin(2\\pi k x_c / P)]$
    for each coordinate `c` in `coords` and $k = 1..K$ (`num_frequencies`); the other
    coordinates pass through unchanged. Output: `[passthrough..., cosines..., sines...]` of
    size `in_size - m + 2 m K` for `m = len(coords)`. Any network after it is exactly
    periodic with period `P` in those coordinates (e.g. KdV on $[-1, 1]$: `period=2`, giving
    $\\cos(\\pi k x)$). No parameters.
    """

    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    coords: tuple[int, ...] = eqx.field(static=True)
    period: float = eqx.field(static=True)
    num_frequencies: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        coords: Sequence[int],
        period: float = 2.0,
        num_frequencies: int = 1,
    ):
        """**Arguments:** `in_size`; `coords`, the periodic coordinates; `period` $P > 0$;
        `num_frequencies` $K$."""
        self.in_size = check_int(in_size, "in_size")
        self.coords = _check_coords(coords, in_size)
        self.period = check_number(period, "period", sign="positive")
        self.num_frequencies = check_int(num_frequencies, "num_frequencies")
        m = len(self.coords)
        self.out_size = in_size - m + 2 * m * num_frequencies

    def __call__(self, x: Point) -> Float[Array, " out_size"]:
        x = check_point(x, self.in_size, where="PeriodicEmbedding")
        n, k = self.in_size, self.num_frequencies
        # Coordinates are picked with constant selection matrices (dot_general) rather than
        # fancy indexing (gather), which Taylor engines may not propagate.
        freqs = np.zeros((len(self.coords) * k, n))
        for i, c in enumerate(self.coords):
            freqs[i * k : (i + 1) * k, c] = 2 * np.pi * np.arange(1, k + 1) / self.period
        z = jnp.asarray(freqs, x.dtype) @ x
        parts = [jnp.cos(z), jnp.sin(z)]
        rest = [i for i in range(n) if i not in self.coords]
        if rest:
            select = np.zeros((len(rest), n))
            select[np.arange(len(rest)), rest] = 1.0
            parts.insert(0, jnp.asarray(select, x.dtype) @ x)
        return jnp.concatenate(parts)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(
            in_size=self.in_size,
            coords=self.coords,
            period=self.period,
            num_frequencies=self.num_frequencies,
        )


class SquaredNorm(AbstractEmbedding):
    """Appends the mean square of the first `num_coords` coordinates:
    $x \\mapsto [x, \\tfrac{1}{n} \\sum_{i \\le n} x_i^2]$, $n$ = `num_coords`.

    For fields that depend on space through the radius, e.g. a radial initial condition
    carried by a rotation-invariant PDE, $u(x, t) = v(|x|^2, t)$: a dense network that
    sees $|x|^2$ forms $v$ with its first layer, where from $x$ alone it needs one layer
    to form the square and another for $v$. The mean rather than the sum keeps the
    feature on the scale of a squared coordinate whatever $n$; time-dependent PDEs put
    time last, so `num_coords` is the spatial dimension. No parameters.
    """

    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    num_coords: int = eqx.field(static=True)

    def __init__(self, in_size: int, num_coords: int):
        """**Arguments:** `in_size`; `num_coords` $n$, the leading coordinates whose mean
        square is appended ($1 \\le n \\le$ `in_size`)."""
        self.in_size = check_int(in_size, "in_size")
        self.num_coords = check_int(num_coords, "num_coords")
        if self.num_coords > self.in_size:
            raise ValueError(
                f"`num_coords` must be at most `in_size` = {self.in_size}, got {num_coords!r}."
            )
        self.out_size = self.in_size + 1

    def __call__(self, x: Point) -> Float[Array, " out_size"]:
        x = check_point(x, self.in_size, where="SquaredNorm")
        # A constant weight vector, not a slice: the same dot_general the Taylor engines
        # propagate for any other linear map.
        weights = np.zeros(self.in_size)
        weights[: self.num_coords] = 1.0 / self.num_coords
        square = (jnp.asarray(weights, x.dtype) * x) @ x
        return jnp.concatenate([x, square[None]])

    def hyperparameters(self) -> dict[str, Any]:
        return dict(in_size=self.in_size, num_coords=self.num_coords)


class WithRadial(AbstractField):
    """A field network plus a learned multiple of the squared norm of its input:
    $u(x) = N(x) + a\\,|x|^2$, with $a$ a scalar parameter starting at 0.

    For solutions that are close to radial plus structure, e.g. an affine network for the
    ball PDEs in very high dimension: $(1 - |x|^2)(w \\cdot x + b)$ cannot hold the radial
    part $|x|^2$ of $N^*$, and a PINN then moves its constant to make up for it (the
    residual's least squares is not the $L^2$ fit). A term beside the network rather than
    an extra input, because a dense first layer behind an embedding would see dense
    tangents: the Taylor engine keeps the exact operator's coordinate tangents sparse
    only on the raw input. $a$ is not in any `eqx.nn.Linear`, so it trains under
    `models.trainable_spec` `"all"` and `"all-but-..."` only.
    """

    net: AbstractField
    weight: Float[Array, ""]

    def __init__(self, net: AbstractField, *, dtype=None):
        """**Arguments:** `net` $N$; `dtype` of $a$ (None: the default float dtype)."""
        if not isinstance(net, AbstractField):
            raise ValueError(f"`net` must be a `models` field, got {type(net).__name__}.")
        self.net = net
        self.weight = jnp.zeros((), check_dtype(dtype))  # None: the default float dtype

    @property
    def in_size(self) -> int:
        return self.net.in_size

    def __call__(self, x: Point) -> Scalar:
        x = check_point(x, self.in_size, where="WithRadial")
        return self.net(x) + self.weight * _sq_norm(x)

    def hyperparameters(self) -> dict[str, Any]:
        return dict(net=self.net, dtype=jnp.dtype(self.weight.dtype).name)


class Embedded(AbstractField):
    """A field network behind an input embedding: $u(x) = N(\\phi(x))$."""

    embedding: AbstractEmbedding
    net: AbstractField

    def __init__(self, embedding: AbstractEmbedding, net: AbstractField):
        """**Arguments:** `embedding` $\\phi$; `net` $N$ with `net.in_size ==
        embedding.out_size`."""
        if net.in_size != embedding.out_size:
            raise ValueError(
                f"`net.in_size` must equal `embedding.out_size` = {embedding.out_size}, got "
                f"{net.in_size}."
            )
        self.embedding = embedding
        self.net = net

    @property
    def in_size(self) -> int:
        return self.embedding.in_size

    def __call__(self, x: Point) -> Scalar:
        return self.net(self.embedding(x))

    def hyperparameters(self) -> dict[str, Any]:
        return dict(embedding=self.embedding, net=self.net)
