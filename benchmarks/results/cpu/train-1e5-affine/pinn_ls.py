"""Exact least-squares fits of an affine network in the two-body ansatz (Poisson, float64):
in L2 against u*, and in the PDE residual (what any PINN optimiser converges to), with and
without an |x|^2 feature. Error / trivial fit on fresh points.

    python benchmarks/results/cpu/train-1e5-affine/pinn_ls.py DIM POINTS [PDE_SEED]
"""

import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
import pdes  # noqa: E402

d, n = int(sys.argv[1]), int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
pde = pdes.get("poisson-twobody", dim=d, seed=seed)


def data(k):
    x = pde.sample_interior(jax.random.PRNGKey(k), n)
    u = jax.vmap(pde.exact_solution)(x)
    f = jax.vmap(pde.forcing)(x)
    return np.asarray(x), np.asarray(u), np.asarray(f)


def feats(x):  # N's features: 1, x, |x|^2
    return np.concatenate([np.ones((len(x), 1)), x, (x**2).sum(1, keepdims=True)], 1)


def rows(x):  # the Laplacian of (1 - |x|^2) times each feature
    r2 = (x**2).sum(1, keepdims=True)
    one = -2 * d * np.ones((len(x), 1))
    return np.concatenate([one, -(2 * d + 4) * x, 2 * d - (4 * d + 8) * r2], 1)


(x, u, f), (xt, ut, _) = data(0), data(1)
fac, fact = 1 - (x**2).sum(1), 1 - (xt**2).sum(1)
k = np.linalg.lstsq(fac[:, None], u, rcond=None)[0]
trivial = np.linalg.norm(ut - fact * k[0]) / np.linalg.norm(ut)
for name, cols in (("affine", d + 1), ("affine+|x|^2", d + 2)):
    l2 = np.linalg.lstsq(fac[:, None] * feats(x)[:, :cols], u, rcond=None)[0]
    pinn = np.linalg.lstsq(rows(x)[:, :cols], f, rcond=None)[0]
    for how, c in (("L2", l2), ("PINN", pinn)):
        e = np.linalg.norm(ut - fact * (feats(xt)[:, :cols] @ c)) / np.linalg.norm(ut)
        print(f"d={d} seed={seed} {name:14s} {how:4s} error/trivial {e / trivial:.4f}", flush=True)
