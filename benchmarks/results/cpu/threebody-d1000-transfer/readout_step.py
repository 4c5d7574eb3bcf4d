"""The first natural-gradient step of a window network, three-body Allen-Cahn (d = 1000):
how much of the residual can the readouts fit, on the batch and on fresh points?

At the start the readouts are zero, so only they have Jacobian columns (the shared MLP's
gradient is multiplied by them). This takes one damped Gauss-Newton step on the readouts
(and output bias) alone, linearised, and reports the mean squared residual on the batch
and on a fresh batch before and after, and the rel-L2 error of the stepped network:

    python readout_step.py random 5 1200     # the window network as initialised
    python readout_step.py d100 15.67 1200   # its shared MLP from allen-cahn-threebody-d100

(argument 2: the input scale; 3: points in the batch; optional 4: the PDE seed, 0; 5: the
dimension, 1000.)
"""

import sys

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

import pdes
import zoo
from zoo._config import TrainConfig
from zoo._evaluate import sample
from zoo._presets import ModelConfig, build_model, make_estimator
from zoo._trainer import fit_output_bias

start, scale, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
dim = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
pde = pdes.get("allen-cahn-threebody", dim=dim, seed=seed)
config = ModelConfig(network="window-mlp", window=3, width=16, depth=4, scale=scale)
model = build_model(pde, config, key=jax.random.PRNGKey(0))
if start == "d100":
    model = eqx.tree_at(
        lambda m: m.net.layers, model, zoo.load("allen-cahn-threebody-d100").model.net.layers
    )
train = TrainConfig(estimator="exact", batch=n)
model = fit_output_bias(model, pde, train, jax.random.PRNGKey(1))
estimator = make_estimator(train)
params, static = eqx.partition(model, eqx.is_inexact_array)
mask = eqx.tree_at(
    lambda p: p.net.readout,
    jax.tree.map(lambda _: 0.0, params),
    replace_fn=lambda r: jax.tree.map(lambda _: 1.0, r),
)


@jax.jit
def residuals_and_jacobian(p, x):
    res = lambda q, y: pde.residual(
        eqx.combine(q, static), y, estimator=estimator, key=jax.random.PRNGKey(0)
    )  # noqa: E731
    r = jax.vmap(lambda y: res(p, y))(x)
    jac = jax.vmap(lambda y: jax.grad(lambda q: res(q, y))(p))(x)
    jac = jax.tree.map(lambda j, m: j * m, jac, mask)
    return r, jnp.concatenate([j.reshape(x.shape[0], -1) for j in jax.tree.leaves(jac)], 1)


xt = sample(pde, jax.random.PRNGKey(9), 2000, jnp.float32)
ut = jax.vmap(pde.exact_solution)(xt)
bt = 1 - jnp.sum(xt**2, axis=1)
trivial = float(jnp.linalg.norm(ut - jnp.dot(ut, bt) / jnp.dot(bt, bt) * bt) / jnp.linalg.norm(ut))


def error(m):
    return float(jnp.linalg.norm(jax.vmap(m)(xt) - ut) / jnp.linalg.norm(ut))


f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
r, jac = map(
    f64, residuals_and_jacobian(params, sample(pde, jax.random.PRNGKey(2), n, jnp.float32))
)
r2, jac2 = map(
    f64, residuals_and_jacobian(params, sample(pde, jax.random.PRNGKey(3), n, jnp.float32))
)
print(
    f"start {start}, d = {dim}, scale {scale}, {n} points, PDE seed {seed}: "
    f"trivial fit {trivial:.4g}, error {error(model):.4g}"
)
print(f"mean squared residual: batch {np.mean(r**2):.4g}, fresh {np.mean(r2**2):.4g}")
gram = jac @ jac.T
_, unravel = jax.flatten_util.ravel_pytree(params)
for damping in (1e-3, 1e-4, 1e-5):
    step = jac.T @ np.linalg.solve(gram + damping * np.trace(gram) / n * np.eye(n), r)
    new = eqx.combine(
        jax.tree.map(lambda p, s: p - s, params, unravel(jnp.asarray(step, jnp.float32))), static
    )
    print(
        f"damping {damping:g}: batch {np.mean((r - jac @ step) ** 2):.4g}, "
        f"fresh {np.mean((r2 - jac2 @ step) ** 2):.4g}, error / trivial {error(new) / trivial:.3g}"
    )
