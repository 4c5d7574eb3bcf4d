"""Three-body Allen-Cahn, d = 100, PDE seed 0: a window MLP (window 3) trained by the
natural gradient with the exact Laplacian, from a random readout of size EPS and the
residual-fitted output bias.

    python threebody_window_ng.py EPS STEPS FEATURES WIDTH [DAMPING] [DEPTH]
"""

import sys

import equinox as eqx
import jax
import jax.numpy as jnp

import zoo
from zoo._trainer import fit_output_bias

eps, steps, features, width = float(sys.argv[1]), *map(int, sys.argv[2:5])
damping = float(sys.argv[5]) if len(sys.argv) > 5 else 3e-3
depth = int(sys.argv[6]) if len(sys.argv) > 6 else 3
model_cfg = zoo.ModelConfig(
    network="window-mlp", window=3, width=width, depth=depth, features=features
)
cfg = zoo.get_preset("allen-cahn-threebody").run_config(100, pde_seed=0, model=model_cfg)
pde = cfg.pde.build()
model = zoo.build_model(pde, cfg.model, key=jax.random.PRNGKey(0))
shape = model.net.readout.weight.shape
readout = eps * jax.random.normal(jax.random.PRNGKey(7), shape) / jnp.sqrt(shape[1])
model = eqx.tree_at(lambda m: m.net.readout.weight, model, readout)
train = cfg.train.replace(
    optimizer="natural-gradient", lr=0.5, damping=damping, estimator="exact", batch=200,
    steps=steps, eval_every=max(steps // 4, 1), log_every=10, n_test=5000,
    init_bias="default",
)  # fmt: skip
model = fit_output_bias(model, pde, train, jax.random.PRNGKey(3))
solver = zoo.Solver(model, pde, cfg, {})
print("start", zoo.evaluate(solver, 5000, key=jax.random.PRNGKey(12345)))
out = f"runs/threebody-window-ng-{eps}-{features}-{width}-{damping}-{depth}"
zoo.finetune(solver, config=train, out=out, overwrite=True, progress=False, plots=False)
