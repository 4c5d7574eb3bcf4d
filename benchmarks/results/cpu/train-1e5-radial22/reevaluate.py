"""The run's final model scored again on its 20 000 test points, against u* in float32 as
the trainer scored it during the run and against u* in float64.

The run's own evaluations summed u*'s 1e5 terms in float32 along d at once (the
fields' first matrix-vector form, since replaced by blocks): 2.6e-6 relative error in
u* at the test points, which adds to the model's error. This scores the same model with
the fields as they are now, and with u* in float64 (the model itself in float32, as
trained; the points are the float32 test points).

    PYTHONPATH=. python benchmarks/results/cpu/train-1e5-radial22/reevaluate.py RUN_DIR
"""

import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo._evaluate import auto_batch, test_points  # noqa: E402

solver = zoo.load(sys.argv[1])
pde, model, train = solver.pde, solver.model, solver.config.train
n = train.n_test
batch = auto_batch(pde.input_dim, train.eval_batch, n)
key = jax.random.PRNGKey(train.test_seed)
u = jax.jit(jax.vmap(model))
truth = jax.jit(jax.vmap(pde.exact_solution))
sums = {"err32": 0.0, "err64": 0.0, "u32": 0.0, "u64": 0.0}
for start in range(0, n, batch):  # the run's own test points, as its evaluations drew them
    x = test_points(pde, key, jnp.arange(start, min(start + batch, n)), jnp.float32)
    pred = np.asarray(u(x), np.float64)
    t32 = np.asarray(truth(x), np.float64)
    t64 = np.asarray(truth(x.astype(jnp.float64)))
    sums["err32"] += np.sum((pred - t32) ** 2)
    sums["err64"] += np.sum((pred - t64) ** 2)
    sums["u32"] += np.sum(t32**2)
    sums["u64"] += np.sum(t64**2)
rel32 = np.sqrt(sums["err32"] / sums["u32"])
rel64 = np.sqrt(sums["err64"] / sums["u64"])
trivial = solver.card.get("trivial_rel_l2")
print(f"{pde.name} d={pde.dim}, {n} test points (seed {train.test_seed})")
print(f"  rel-L2 against u* in float32 (the fields now): {rel32:.4e}")
print(f"  rel-L2 against u* in float64:                  {rel64:.4e}")
print(f"  the run's own final rel-L2:                     {solver.card['rel_l2']:.4e}")
print(f"  trivial fit (the run's):                        {trivial:.4e}")
print(f"  error / trivial fit, float64 u*:                {rel64 / trivial:.5f}")
