"""Analytic derivatives of the two-body and three-body sums, O(d) per point.

Two-body: $s(x) = \\sum_i c_i \\sin\\theta_i$, $\\theta_i = a + \\cos b + b\\cos a$ with
$a = x_i$, $b = x_{i+1}$. Each term depends on two coordinates, so every operator we need
reduces to the partials $g_{a^p b^q}$ of $g = \\sin\\theta(a, b)$, obtained from the partials
of $\\theta$ by Faà di Bruno (all set partitions of the multiset of derivatives).
Three-body: $s(x) = \\sum_i c_i \\exp(x_i x_{i+1} x_{i+2})$.
"""

import functools
import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

# pi/2 in three parts, the first two with short mantissas, so that k * part is exact in
# float32 for |k| < 2^15 (Cody-Waite): the reduced argument keeps its accuracy.
_PI2 = (1.5703125, 4.84466552734375e-4, math.pi / 2 - 1.5703125 - 4.84466552734375e-4)


def sincos(x: Array) -> tuple[Array, Array]:
    """$(\\sin x, \\cos x)$ together; in float32 within 1.2e-7 (an ulp at 1) of the
    exact values for $|x| < 10^4$.

    Why not `jnp.sin` and `jnp.cos`: on a CPU XLA computes them a coordinate at a time
    (15x the cost of `jnp.exp` per element, measured), and the two-body forcing takes
    the sine and cosine of 2d numbers a point: a third of a d = 1e5 step. Here: reduce by
    multiples of pi/2, x = k pi/2 + r with |r| <= pi/4, Taylor polynomials of sin r and
    cos r (their next terms are below 2e-9 there), then the quadrant's signs and swap
    as arithmetic rather than selects, which XLA's CPU code also handles poorly.
    Float64 (and any other dtype) takes `jnp.sin` and `jnp.cos`.
    """
    if x.dtype != jnp.float32:
        return jnp.sin(x), jnp.cos(x)
    k = jnp.floor(x * (2 / math.pi) + 0.5)
    r = ((x - k * _PI2[0]) - k * _PI2[1]) - k * _PI2[2]
    r2 = r * r
    s = r + r * r2 * (-1 / 6 + r2 * (1 / 120 + r2 * (-1 / 5040 + r2 / 362880)))
    c = 1 + r2 * (-1 / 2 + r2 * (1 / 24 + r2 * (-1 / 720 + r2 * (1 / 40320 - r2 / 3628800))))
    # sin(r + k pi/2) = sign (s, c, s, c)[k % 2], cos = sign (c, -s, c, -s)[k % 2], with
    # sign = -1 when k % 4 is 2 or 3.
    half = jnp.floor(k * 0.5)
    odd = k - 2 * half
    sign = 1 - 2 * (half - 2 * jnp.floor(k * 0.25))
    even = 1 - odd  # products by 0 and 1 and sums with 0 are exact
    return sign * (even * s + odd * c), sign * (even * c - odd * s)


def twobody_partials(x: Float[Array, " d"]) -> dict:
    """Partials of $g_i = \\sin\\theta_i$ w.r.t. $(a, b) = (x_i, x_{i+1})$, each shape (d-1,)."""
    a, b = x[:-1], x[1:]
    # sin and cos of each coordinate once (not once per neighbour): at d = 1e6 the
    # transcendentals are most of a training step's cost on a CPU.
    sx, cx = sincos(x)
    sa, ca, sb, cb = sx[:-1], cx[:-1], sx[1:], cx[1:]
    th = a + cb + b * ca
    # Partials of theta; the mixed ones with two or more b-derivatives vanish.
    t_a, t_b = 1 - b * sa, ca - sb
    t_aa, t_ab, t_bb = -b * ca, -sa, -cb
    t_aaa, t_aab, t_bbb = b * sa, -ca, sb
    t_aaaa, t_bbbb = b * ca, cb
    # F = sin and its derivatives at theta.
    s_th, c_th = sincos(th)
    f1, f2, f3, f4 = c_th, -s_th, -c_th, s_th
    return {
        "g": s_th,
        "a": f1 * t_a,
        "b": f1 * t_b,
        "aa": f2 * t_a**2 + f1 * t_aa,
        "ab": f2 * t_a * t_b + f1 * t_ab,
        "bb": f2 * t_b**2 + f1 * t_bb,
        "aaa": f3 * t_a**3 + 3 * f2 * t_a * t_aa + f1 * t_aaa,
        # t_abb = 0
        "aab": f3 * t_a**2 * t_b + f2 * (t_aa * t_b + 2 * t_a * t_ab) + f1 * t_aab,
        "abb": f3 * t_a * t_b**2 + f2 * (t_bb * t_a + 2 * t_b * t_ab),
        "bbb": f3 * t_b**3 + 3 * f2 * t_b * t_bb + f1 * t_bbb,
        "aaaa": f4 * t_a**4
        + 6 * f3 * t_a**2 * t_aa
        + f2 * (3 * t_aa**2 + 4 * t_a * t_aaa)
        + f1 * t_aaaa,
        # Partitions of {a, a, b, b}; t_abb = t_aabb = 0.
        "aabb": f4 * t_a**2 * t_b**2
        + f3 * (t_aa * t_b**2 + t_bb * t_a**2 + 4 * t_a * t_b * t_ab)
        + f2 * (t_aa * t_bb + 2 * t_ab**2 + 2 * t_b * t_aab),
        "bbbb": f4 * t_b**4
        + 6 * f3 * t_b**2 * t_bb
        + f2 * (3 * t_bb**2 + 4 * t_b * t_bbb)
        + f1 * t_bbbb,
    }


def twobody_terms(x: Float[Array, " d"], order: int = 2) -> dict:
    """The summands over $i$ of the two-body sums the forcings need, each shape (d-1,);
    `weighted_sums` weights them by $c_i$ and sums.

    Keys: `s` (all that `order=0` gives); `xgrad` $= x\\cdot\\nabla s$; `lap` $= \\Delta s$;
    with `order >= 3` also `sum1` $= \\sum_j s_j$, `sum3` $= \\sum_j s_{jjj}$, `xdiag2`
    $= \\sum_j x_j s_{jj}$, `x2diag1` $= \\sum_j x_j^2 s_j$; with `order >= 4` also
    `xgradlap` $= x\\cdot\\nabla\\Delta s$, `xhx` $= x^T H_s x$, `bilap` $= \\Delta^2 s$.
    """
    p = twobody_partials(x)
    a, b = x[:-1], x[1:]
    terms = {"s": p["g"]}
    if order >= 2:
        terms["xgrad"] = a * p["a"] + b * p["b"]
        terms["lap"] = p["aa"] + p["bb"]
    if order >= 3:
        terms["sum1"] = p["a"] + p["b"]
        terms["sum3"] = p["aaa"] + p["bbb"]
        terms["xdiag2"] = a * p["aa"] + b * p["bb"]
        terms["x2diag1"] = a**2 * p["a"] + b**2 * p["b"]
    if order >= 4:
        terms["xgradlap"] = a * (p["aaa"] + p["abb"]) + b * (p["aab"] + p["bbb"])
        terms["xhx"] = a**2 * p["aa"] + 2 * a * b * p["ab"] + b**2 * p["bb"]
        terms["bilap"] = p["aaaa"] + 2 * p["aabb"] + p["bbbb"]
    return terms


# Terms per block of `weighted_sums`: a float32 product over all d terms at once accumulates
# its rounding along d (measured at d = 1e5: 3.3e-6 of the forcing's rms, 4x a plain
# reduction's; through the solution, 2.6e-6 relative at the test points, a third of the
# d = 1e5 recipe's own error); 128 at a time and then a sum over the blocks: 4e-7.
_BLOCK = 128


def weighted_sums(terms: dict, c) -> dict:
    """`{k: sum(c * v)}` as matrix-vector products of the stacked rows, a block of
    `_BLOCK` terms at a time, then summed over the blocks.

    Not separate sums: they make XLA materialise every shared intermediate (9 arrays of
    `d` floats per point for the Laplacian forcing, 3.4 GB for a batch of 100 at d =
    1e6). Not one `sum(c * rows)`: XLA's CPU code fuses the whole elementwise computation
    into that reduction, where it runs unvectorised (d = 1e5, a batch of 100: the two-body
    solution 0.18 s as a reduction, 0.06 s as products). Fewer rows are faster still, so
    callers combine rows first where they can. Full float32 precision: a GPU's default
    would round the rows to TF32.
    """
    rows = jnp.stack(list(terms.values()))
    n = c.shape[0] // _BLOCK * _BLOCK
    dot = functools.partial(jnp.einsum, precision=jax.lax.Precision.HIGHEST)
    sums = dot("kb,b->k", rows[:, n:], c[n:])
    if n:
        blocks = rows[:, :n].reshape(rows.shape[0], n // _BLOCK, _BLOCK)
        sums = sums + jnp.sum(dot("kmb,mb->km", blocks, c[:n].reshape(-1, _BLOCK)), axis=1)
    return dict(zip(terms, sums))


def threebody_terms(x: Float[Array, " d"]) -> dict:
    """Summands of `s`, `xgrad` and `lap` for $s = \\sum_i c_i e^{m_i}$,
    $m_i = x_i x_{i+1} x_{i+2}$, each shape (d-2,), for `weighted_sums`.

    $\\partial_{x_i} e^{m} = x_{i+1} x_{i+2} e^{m}$: the chain-rule factors that the
    published forcing omitted.
    """
    a, b, z = x[:-2], x[1:-1], x[2:]
    m = a * b * z
    e = jnp.exp(m)
    return {"s": e, "xgrad": 3 * m * e, "lap": e * ((b * z) ** 2 + (a * z) ** 2 + (a * b) ** 2)}
