"""The error floor that a first layer of `width` units puts under any network.

    python scripts/rank_floor.py allen-cahn-twobody --dim 1000 --pde-seeds 0 1 2 3

Every network in `models` starts with a linear layer R^d -> R^width, so inside the ansatz
u = factor(x) N(x) the network is N(x) = g(P x) with P of rank at most `width`: it sees x
only through a `width`-dimensional projection. On the unit ball in high d the test points
have small coordinates and N* = u* / factor is, to high accuracy, a quadratic
a + b.x + x^T H x / 2 (H its Hessian at the origin). Of the quadratic part, a rank-k
projection keeps at best the k eigen-directions of largest |eigenvalue| (the trace part
|x|^2 is radial and given for free here), so the least-squares fit of u* on the features

    factor * [1, x_1 .. x_d, |x|^2, (v_1.x)^2 .. (v_k.x)^2]   (v_j: top eigenvectors of H)

measures what a width-k network can reach at best. The features are generous to the
network (all d linear directions and |x|^2 for free besides the k), so the numbers are
lower bounds up to the cubic and higher terms, whose size the k = d column shows. Fits use
`--n` points and are scored on `--n` fresh ones (float64). One JSON line per PDE seed,
with the trivial fit (base + K factor) beside the floors, and `rel_l2_affine`, the floor
of an affine network (`ModelConfig(depth=1)`: factor * [1, x], no |x|^2).

Above d = 4000 (or with `--banded`) neither the d x d Hessian nor d linear features fit
in memory. The two-body and three-body H are banded, so it is read off five
Hessian-vector products (probes that are 1 on every fifth coordinate), checked against
one at a random vector, and its eigenvalues come from the banded solver. Two fits are
then made, on features built point by point: affine, with the linear part through the
one direction b = grad N*(0) (k = 0), and the full quadratic, with the traceless
x^T H x / 2 as one more feature (k = d). Between them the floor of rank k is

    floor_k^2 = floor_d^2 + (1 - E_k) (floor_0^2 - floor_d^2),   E_k = Hessian energy of the top k,

since the directions a rank-k layer leaves out contribute their share of the quadratic's
variance; they are reported as `rel_l2_estimate`. At d = 1000, seed 0, where both ways
run, the banded floors are 4.89e-3 / 9.04e-5 (k = 0 / d) against the dense fits'
5.00e-3 / 9.19e-5, and the estimates 3.12e-3 / 8.12e-4 (k = 128 / 512) against the
fitted 3.20e-3 / 8.46e-4.
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

import stde
import zoo

jax.config.update("jax_enable_x64", True)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("preset", help="a ball preset with an exact solution, e.g. poisson-twobody")
parser.add_argument("--dim", type=int, default=None, help="default: the preset's")
parser.add_argument("--pde-seeds", type=int, nargs="+", default=[0])
parser.add_argument("--ranks", type=int, nargs="+", help="default: 0, width, 4 width, d")
parser.add_argument("--n", type=int, default=24_000, help="fit points (and as many to score)")
parser.add_argument("--banded", action="store_true", help="the banded way at any d")
args = parser.parse_args()

DENSE_MAX = 4000  # d x d float64 Hessian and n x d features above this: the banded way
BAND = 2  # half-bandwidth of H: the three-body terms couple x_i, x_(i+1), x_(i+2)
CHUNK = 1000  # points per feature block


def banded_hessian(f, d):
    """The Hessian of `f` at 0 as the lower bands of a symmetric banded matrix (row j:
    the j-th sub-diagonal, as scipy.linalg.eigvals_banded takes it), from 2 BAND + 1
    Hessian-vector products, checked against one at a random vector."""
    hvp = jax.jit(lambda v: jax.jvp(jax.grad(f), (jnp.zeros(d),), (v,))[1])
    period, i = 2 * BAND + 1, np.arange(d)
    # Probe m is 1 on the coordinates = m mod period; row i of H @ probe is H[i, j] for
    # the one j = m mod period within BAND of i.
    probes = [jnp.asarray(i % period == m, float) for m in range(period)]
    products = np.stack([np.asarray(hvp(v)) for v in probes])
    bands = np.zeros((BAND + 1, d))
    for j in range(BAND + 1):
        bands[j, : d - j] = products[(i[: d - j] + j) % period, i[: d - j]]
    v = np.random.default_rng(0).standard_normal(d)
    hv = bands[0] * v
    for j in range(1, BAND + 1):
        hv[:-j] += bands[j, : d - j] * v[j:]
        hv[j:] += bands[j, : d - j] * v[:-j]
    exact = np.asarray(hvp(jnp.asarray(v)))
    if np.linalg.norm(hv - exact) > 1e-8 * np.linalg.norm(exact):
        raise SystemExit(f"error: the Hessian of {args.preset} is not {BAND}-banded")
    return bands


def floors(preset, pde_seed):
    cfg = preset.run_config(args.dim, pde_seed=pde_seed)
    pde = cfg.pde.build()
    ansatz = pde.ansatz
    if not isinstance(ansatz, stde.BallAnsatz) or not pde.has_exact_solution:
        raise SystemExit(f"error: {preset.name} is not a ball PDE with an exact solution")
    d, width = pde.dim, cfg.model.width
    ranks = sorted({min(k, d) for k in (args.ranks or [0, width, 4 * width, d])})
    banded = args.banded or d > DENSE_MAX

    def network_part(x):  # N* = (u* - base) / factor
        return (pde.exact_solution(x) - ansatz.base(x)) / ansatz.factor(x)

    if banded:
        bands = banded_hessian(network_part, d)
        bands[0] -= bands[0].mean()  # trace-free
        eigenvalues = scipy.linalg.eigvals_banded(bands, lower=True)
        gradient = jax.grad(network_part)(jnp.zeros(d))

        def quadratic(x):  # x^T H x / 2 of the trace-free H
            off = sum(bands[j, : d - j] @ (x[:-j] * x[j:]) for j in range(1, BAND + 1))
            return bands[0] @ x**2 / 2 + off

        def columns(x):  # k = 0: the first three; k = d: all four
            return jnp.stack([x @ gradient, jnp.sum(x**2), quadratic(x)])

        fitted = {k: 4 if k == d else 3 for k in ranks if k in (0, d)}
    else:
        hessian = np.asarray(jax.hessian(network_part)(jnp.zeros(d)))
        eigenvalues, vectors = np.linalg.eigh(hessian - np.trace(hessian) / d * np.eye(d))
        top = vectors[:, np.argsort(-np.abs(eigenvalues))[: max(ranks)]]

        def columns(x):  # k: the first d + 2 + k
            return jnp.concatenate([x, jnp.sum(x**2, keepdims=True), (x @ top) ** 2])

        fitted = {k: d + 2 + k for k in ranks}
    squares = np.sort(eigenvalues**2)[::-1]  # all zero: no quadratic part, every k has it all
    energy = np.cumsum(squares) / squares.sum() if squares.sum() else np.ones(d)

    @jax.jit
    def block(key):  # features times factor, the target u* - base, and u*
        x = pde.sample_interior(key, CHUNK)
        u = jax.vmap(pde.exact_solution)(x)
        feats = jax.vmap(lambda p: jnp.concatenate([jnp.ones(1), columns(p)]))(x)
        return feats * jax.vmap(ansatz.factor)(x)[:, None], u - jax.vmap(ansatz.base)(x), u

    def data(seed):
        keys = jax.random.split(jax.random.PRNGKey(seed), -(-args.n // CHUNK))
        return [np.concatenate(parts) for parts in zip(*(map(np.asarray, block(k)) for k in keys))]

    (feats, target, _), (feats_t, target_t, u_t) = data(0), data(1)

    def rel_l2(n_columns):  # least squares on the first n_columns, scored on fresh points
        coef = np.linalg.lstsq(feats[:, :n_columns], target, rcond=None)[0]
        return float(np.linalg.norm(target_t - feats_t[:, :n_columns] @ coef) / np.linalg.norm(u_t))

    row = dict(
        preset=preset.name, dim=d, pde_seed=pde_seed, width=width, n=args.n,
        method="banded" if banded else "dense", trivial_rel_l2=rel_l2(1),
        rel_l2={str(k): rel_l2(c) for k, c in fitted.items()},
        # An affine network's own floor: factor * [1, x], without the |x|^2 given free above
        # (banded: the linear part through gradient N*(0) alone, as for k = 0).
        rel_l2_affine=rel_l2(2 if banded else d + 1),
    )  # fmt: skip
    if banded:
        lo, hi = rel_l2(3), rel_l2(4)
        row["rel_l2_estimate"] = {
            str(k): float(np.sqrt(hi**2 + (1 - energy[k - 1]) * (lo**2 - hi**2)))
            for k in ranks
            if 0 < k < d
        }
    row["hessian_energy"] = {str(k): float(energy[k - 1]) for k in ranks if k}
    return row


for seed in args.pde_seeds:
    print(json.dumps(floors(zoo.get_preset(args.preset), seed)), flush=True)
