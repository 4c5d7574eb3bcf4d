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
`--n` points and are scored on `--n` fresh ones (float64). One JSON line per PDE seed.
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

import stde
import zoo

jax.config.update("jax_enable_x64", True)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("preset", help="a ball preset with an exact solution, e.g. poisson-twobody")
parser.add_argument("--dim", type=int, default=None, help="default: the preset's")
parser.add_argument("--pde-seeds", type=int, nargs="+", default=[0])
parser.add_argument("--ranks", type=int, nargs="+", help="default: 0, width, 4 width, d")
parser.add_argument("--n", type=int, default=24_000, help="fit points (and as many to score)")
args = parser.parse_args()


def floors(preset, pde_seed):
    cfg = preset.run_config(args.dim, pde_seed=pde_seed)
    pde = cfg.pde.build()
    ansatz = pde.ansatz
    if not isinstance(ansatz, stde.BallAnsatz) or not pde.has_exact_solution:
        raise SystemExit(f"error: {preset.name} is not a ball PDE with an exact solution")
    d, width = pde.dim, cfg.model.width
    ranks = sorted({min(k, d) for k in (args.ranks or [0, width, 4 * width, d])})

    def network_part(x):  # N* = (u* - base) / factor
        return (pde.exact_solution(x) - ansatz.base(x)) / ansatz.factor(x)

    hessian = np.asarray(jax.hessian(network_part)(jnp.zeros(d)))
    traceless = hessian - np.trace(hessian) / d * np.eye(d)
    eigenvalues, vectors = np.linalg.eigh(traceless)
    order = np.argsort(-np.abs(eigenvalues))
    eigenvalues, vectors = eigenvalues[order], vectors[:, order]
    energy = np.cumsum(eigenvalues**2) / np.sum(eigenvalues**2)

    def data(key):
        x = pde.sample_interior(key, args.n)  # float64: x64 is on
        return (
            np.asarray(x),
            np.asarray(jax.vmap(pde.exact_solution)(x)),
            np.asarray(jax.vmap(ansatz.base)(x)),
            np.asarray(jax.vmap(ansatz.factor)(x)),
        )

    def features(x, factor, k):
        cols = [np.ones((len(x), 1)), x, np.sum(x**2, 1, keepdims=True), (x @ vectors[:, :k]) ** 2]
        return factor[:, None] * np.concatenate(cols, 1)

    (x, u, base, factor), (xt, ut, base_t, factor_t) = (
        data(jax.random.PRNGKey(0)),
        data(jax.random.PRNGKey(1)),
    )
    rel_l2 = {}
    for k in ranks:
        coef = np.linalg.lstsq(features(x, factor, k), u - base, rcond=None)[0]
        err = ut - base_t - features(xt, factor_t, k) @ coef
        rel_l2[k] = float(np.linalg.norm(err) / np.linalg.norm(ut))
    return dict(
        preset=preset.name, dim=d, pde_seed=pde_seed, width=width, n=args.n,
        rel_l2={str(k): v for k, v in rel_l2.items()},
        hessian_energy={str(k): float(energy[k - 1]) for k in ranks if k},
    )  # fmt: skip


for seed in args.pde_seeds:
    print(json.dumps(floors(zoo.get_preset(args.preset), seed)), flush=True)
