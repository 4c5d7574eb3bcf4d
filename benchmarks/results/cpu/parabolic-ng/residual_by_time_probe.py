"""The exact residual of a trained parabolic run on 2000 collocation points, binned by the
points' path time s = T - t: where along the Brownian paths the network misses the PDE.

    python residual_by_time_probe.py RUN_DIR
"""

import sys

import jax
import numpy as np

import zoo

solver = zoo.load(sys.argv[1])
pde = solver.pde
points = pde.sample_interior(jax.random.PRNGKey(7), 2000)
r = np.asarray(jax.jit(jax.vmap(lambda x: pde.residual(solver, x)))(points))
s = pde.final_time - np.asarray(points[:, -1])
print("mean r^2", (r**2).mean(), "mean r", r.mean())
for lo, hi in [(0, 0.003), (0.003, 0.03), (0.03, 0.1), (0.1, 0.2), (0.2, 0.3)]:
    m = (s >= lo) & (s < hi)
    rms = np.sqrt((r[m] ** 2).mean())
    print(f"s in [{lo},{hi}) n={m.sum()} mean r={r[m].mean():.4f} rms={rms:.4f}")
