"""Full-history recursive multilevel Picard (MLP) approximation of
$\\partial_t u = \\Delta u + F(u)$, $u(\\cdot, 0) = g$, at single space-time points."""

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from stde._checks import check_int, check_key

from ._custom_types import Key

# The most array elements (points x samples x d) one vectorised step holds: 2**22
# float32 values are 16 MB. More points are split into chunks, more samples into blocks
# of M^j; one recursion frame of each level is alive at a time, so memory is bounded by
# ~ level x a few blocks whatever the level. Results depend on the key and the inputs'
# shapes only (the chunking is fixed by them), not on the machine.
_BLOCK = 2**22


def _block(count: int, width: int, m: int) -> int:
    """The largest `m^j` that divides `count = m^k` and is at most `width` (>= 1)."""
    c = count
    while c > 1 and c > width:
        c //= m
    return c


def _draw_points(x, t, z):
    """$(t - R, x + \\sqrt2 W_R)$ from standard normals `z` of shape (N, c, d + 1): the
    last column gives $R = t\\,\\Phi(z) \\sim U[0, t]$ (one random draw, not two, which
    keeps the kernels small to compile). Flattened point-major to (N c, d) and (N c,)."""
    N, c, d = z.shape[0], z.shape[1], x.shape[1]
    r = t[:, None] * jax.scipy.special.ndtr(z[..., d])
    y = x[:, None, :] + jnp.sqrt(2 * r)[..., None] * z[..., :d]
    return y.reshape(N * c, d), (t[:, None] - r).reshape(N * c)


@eqx.filter_jit
def _start(g, x, t, f0, key, n: int, num_blocks: int, block: int, firsts: tuple):
    """A frame's start, at each point: $M^{-n}\\sum_i g(x + \\sqrt{2t} Z_i)$
    (`num_blocks` blocks of `block` samples, run in sequence) plus the $l = 0$ term
    $t F(0)$ (`f0` = $F(0)$), exact since $U_0 = 0$ whatever the samples; then, for each
    $l = 1..n-1$, the first `firsts[l - 1]` bracket points and the keys of the brackets'
    inner draws (and of their later blocks). It does not depend on $F$, so one compiled
    kernel serves every $F$."""
    N, d = x.shape
    kg, kb, kc = jax.random.split(key, 3)
    scale = jnp.sqrt(2 * t)[:, None, None]

    def one(k):
        z = jax.random.normal(k, (N, block, d), x.dtype)
        values = jax.vmap(jax.vmap(g))(x[:, None, :] + scale * z)
        return jnp.sum(values.astype(x.dtype), axis=1)

    if num_blocks == 1:
        total = one(kg)
    else:
        total = jnp.sum(jax.lax.map(one, jax.random.split(kg, num_blocks)), axis=0)
    out = total / (num_blocks * block) + t * f0
    if n == 1:
        return out, (), ()
    z = jax.random.normal(kb, (N, sum(firsts), d + 1), x.dtype)
    offsets = np.cumsum((0,) + firsts)
    points = tuple(_draw_points(x, t, z[:, a:b]) for a, b in zip(offsets[:-1], offsets[1:]))
    keys = jax.random.split(kc, 3 * (n - 1)).reshape(n - 1, 3, *kc.shape)
    return out, points, tuple(tuple(k) for k in keys)


@eqx.filter_jit
def _more_points(x, t, key, j, c: int):
    """Block `j` (>= 1) of a bracket's points: `c` per point, and its inner draws' keys."""
    kz, ku, kl = jax.random.split(jax.random.fold_in(key, j), 3)
    z = jax.random.normal(kz, (x.shape[0], c, x.shape[1] + 1), x.dtype)
    return _draw_points(x, t, z), ku, kl


@eqx.filter_jit
def _add_bracket(F, out, t, f0, upper, lower, c: int, count: int):
    """`out` plus $\\frac{t}{M^{n-l}}\\sum_{i \\le c} F(U_l) - F(U_{l-1})$ per point;
    `lower` None means $U_0 = 0$, $F(U_0) = $ `f0`."""
    f = jax.vmap(F)(upper).astype(out.dtype)
    f = f - (f0 if lower is None else jax.vmap(F)(lower).astype(out.dtype))
    return out + t * jnp.sum(f.reshape(out.shape[0], c), axis=1) / count


def _level(g, F, f0, m: int, n: int, x, t, key):
    """Independent draws of $U_n(t_p, x_p)$ for each point p: `x` (N, d), `t` (N,).

    A frame's arrays hold at most ~`_BLOCK` elements: its children's points number
    N c <= `_BLOCK` / d, so only the top level may have to split its points."""
    N, d = x.shape
    if n == 0:
        return jnp.zeros((N,), x.dtype)
    cap = max(1, _BLOCK // d)
    if N > cap:  # Too many points for one step: chunks, each with its own key.
        parts = [
            _level(g, F, f0, m, n, x[i : i + cap], t[i : i + cap], jax.random.fold_in(key, i))
            for i in range(0, N, cap)
        ]
        return jnp.concatenate(parts)
    width = max(1, _BLOCK // (N * (d + 1)))  # samples per point in one step
    c = _block(m**n, width, m)
    # Bracket l's block; all the first blocks are drawn together, so they share the width.
    blocks = tuple(_block(m ** (n - k), max(1, width // (n - 1)), m) for k in range(1, n))
    out, points, keys = _start(g, x, t, f0, key, n, m**n // c, c, blocks)
    for k in range(1, n):
        count, c = m ** (n - k), blocks[k - 1]
        (y, s), (kn, ku, kl) = points[k - 1], keys[k - 1]
        for j in range(count // c):
            if j > 0:
                (y, s), ku, kl = _more_points(x, t, kn, j, c)
            # The same (t - R_i, x + sqrt(2) W_{R_i}) for U_k and U_{k-1}; each draws its
            # own inner samples (ku, kl), as in the literature.
            upper = _level(g, F, f0, m, k, y, s, ku)
            lower = None if k == 1 else _level(g, F, f0, m, k - 1, y, s, kl)
            out = _add_bracket(F, out, t, f0, upper, lower, c, count)
    return out


def _f0(F, dtype):
    """$F(0)$, the $l = 0$ term's integrand ($U_0 = 0$), as a scalar array."""
    return jnp.asarray(F(jnp.zeros((), dtype)), dtype).reshape(())


def _check(where, g, F, x, t, key, level, num_samples):
    if not callable(g):
        raise ValueError(f"{where}: `g` must be a callable g(x) -> scalar, got {g!r}.")
    if not callable(F):
        raise ValueError(f"{where}: `F` must be a callable F(u) -> scalar, got {F!r}.")
    check_int(level, "level", minimum=0, where=where)
    check_int(num_samples, "num_samples", where=where)
    check_key(key, where=where)
    x = jnp.asarray(x)
    if x.ndim not in (1, 2) or x.shape[-1] < 1 or (x.ndim == 2 and x.shape[0] < 1):
        raise ValueError(
            f"{where}: `x` must have shape (d,) (one point) or (n, d) (a batch), d >= 1, "
            f"got {x.shape}."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{where}: `x` must be a floating-point array, got dtype {x.dtype}.")
    t = jnp.asarray(t, x.dtype)
    batch = () if x.ndim == 1 else (x.shape[0],)
    if t.shape not in ((), batch):
        raise ValueError(
            f"{where}: `t` must be a scalar"
            + (f" or have shape {batch}" if batch else "")
            + f" for `x` of shape {x.shape}, got shape {t.shape}."
        )
    # A traced `t` cannot be checked at trace time; a concrete one can.
    if not isinstance(t, jax.core.Tracer):
        values = np.asarray(t)
        if not (np.all(np.isfinite(values)) and np.all(values >= 0)):
            raise ValueError(f"{where}: `t` must be >= 0 and finite, got {values!r}.")
    x2 = x.reshape(-1, x.shape[-1])
    return x2, jnp.broadcast_to(t, x2.shape[:1]), batch


def multilevel_picard(
    g: Callable,
    F: Callable,
    x,
    t,
    key: Key,
    *,
    level: int,
    num_samples: int,
):
    """One multilevel Picard (MLP) estimate of $u(x, t)$ for
    $\\partial_t u = \\Delta u + F(u)$ on $\\mathbb{R}^d$, $u(\\cdot, 0) = g$.

    **What it is.** The full-history recursive multilevel Picard approximation
    (Hutzenthaler, Jentzen, Kruse, Nguyen, von Wurstemberger, Proc. R. Soc. A 2020). By
    Feynman-Kac the solution is the fixed point of
    $u(t, x) = E\\,g(x + \\sqrt2 W_t) + \\int_0^t E\\,F(u(t - s, x + \\sqrt2 W_s))\\,ds$.
    Picard iteration converges to it (for Lipschitz $F$, like $(Lt)^n/n!$); MLP writes
    the $n$-th iterate as a telescoping sum over the earlier ones and estimates each
    difference by Monte Carlo, with fewer samples the finer the difference
    ($M$ = `num_samples`, $n$ = `level`, $U_0 = 0$):
    $U_n(t, x) = M^{-n}\\sum_{i \\le M^n} g(x + \\sqrt2 W^i_t)
    + \\sum_{l=0}^{n-1} \\frac{t}{M^{n-l}} \\sum_{i \\le M^{n-l}}
    [F(U_l) - 1_{l>0} F(U_{l-1})](t - R_i, x + \\sqrt2 W^i_{R_i})$,
    $R_i \\sim U[0, t]$. Every $(n, l, i)$ draws its own time and Brownian increment;
    inside one bracket $U_l$ and $U_{l-1}$ are evaluated at the same point
    $(t - R_i, x + \\sqrt2 W^i_{R_i})$, so their difference is small, each with its
    own independent inner samples, as in the literature. The $l = 0$ term is
    $t F(0)$ exactly (no samples needed, since $U_0 = 0$).

    **Cost.** $U_n$ calls $g$ of the order of $(2M)^n$ times, each $O(d)$: the count obeys
    $C_n = M^n + \\sum_{0<l<n} M^{n-l}(C_l + C_{l-1})$, $5.8 \\cdot 10^4$ for
    $n = M = 5$, $6.0 \\cdot 10^5$ for $n = M = 6$, $6.3 \\cdot 10^7$ for $n = M = 7$
    (the analysis bounds it by $(5M)^n$), and $F$ about as often. Polynomial in $d$,
    exponential in the level. The recursion runs in Python, each level's samples as
    arrays (vectorised over points and samples) through small compiled kernels, one per
    (level, batch shape): $O(n^2)$ compilations, whatever the number of samples, which
    dominate the time of small runs (a few seconds to a minute).

    **Accuracy.** The root-mean-square error is bounded (ibid.) by a constant times
    $e^{M/2}(1 + 2Lt)^n / M^{n/2}$ ($L$: $F$'s Lipschitz constant; the usual choice is
    $n = M$). The estimate is *biased* at a finite level: only $n$ Picard steps are
    taken, and $E\\,F(U_l) \\ne F(E\\,U_l)$ for nonlinear $F$. Averaging repeats
    (`multilevel_picard_mean`) shrinks the statistical error, not the bias; raise `level`
    and `num_samples` for that. For constant $F$ it is unbiased at any level $\\ge 1$;
    for linear $F = \\lambda u$ its mean is the $n$-th Picard iterate.

    **Arguments:** `g` ($\\mathbb{R}^d \\to \\mathbb{R}$, one point at a time), `F`
    ($\\mathbb{R} \\to \\mathbb{R}$, one value at a time; both are vmapped), `x` (one
    point `(d,)` or a batch `(n, d)`), `t` ($\\ge 0$: a scalar, or `(n,)` for a batch),
    `key` (same key and inputs, same result), `level` ($n \\ge 0$; 0 returns 0),
    `num_samples` ($M \\ge 1$). Returns an array of shape `()` or `(n,)` in `x`'s dtype;
    the points draw independent samples. Memory stays bounded at any level: samples
    beyond a block of $2^{22}$ values (points x samples x d) run in sequence. Call it
    outside `jax.jit` (its recursion is Python).
    """
    where = "`multilevel_picard`"
    x2, t2, batch = _check(where, g, F, x, t, key, level, num_samples)
    f0 = _f0(F, x2.dtype)
    return _level(g, F, f0, num_samples, level, x2, t2, key).reshape(batch)


def multilevel_picard_mean(
    g: Callable,
    F: Callable,
    x,
    t,
    key: Key,
    *,
    level: int,
    num_samples: int,
    repeats: int,
):
    """The mean of `repeats` independent `multilevel_picard` estimates and its standard
    error (sample standard deviation over $\\sqrt{K}$, $K$ = `repeats` >= 2), each of
    shape `()` or `(n,)`; the other arguments are `multilevel_picard`'s.

    The standard error measures the statistical error only: MLP is biased at a finite
    level (see `multilevel_picard`), so a reference value needs a level at which raising
    it moves the mean by less than the standard error. The repeats run as one batch
    (the points repeated $K$ times), so they are vectorised like points.
    """
    where = "`multilevel_picard_mean`"
    x2, t2, batch = _check(where, g, F, x, t, key, level, num_samples)
    check_int(repeats, "repeats", minimum=2, where=where)
    n = x2.shape[0]
    xs, ts = jnp.tile(x2, (repeats, 1)), jnp.tile(t2, repeats)
    values = _level(g, F, _f0(F, x2.dtype), num_samples, level, xs, ts, key)
    values = values.reshape(repeats, n)
    mean = jnp.mean(values, axis=0)
    stderr = jnp.std(values, axis=0, ddof=1) / math.sqrt(repeats)
    return mean.reshape(batch), stderr.reshape(batch)
