"""Split a run's test error into the part an affine function of x (times the ball factor)
removes and the rest: `python err_split.py RUN_DIR`."""

import sys

import jax
import jax.numpy as jnp
import numpy as np

import zoo

solver = zoo.load(sys.argv[1])
pde = solver.pde
x = pde.sample_interior(jax.random.PRNGKey(5), 6000)
u = jax.vmap(solver.model)(x)
exact = jax.vmap(pde.exact_solution)(x)
b = np.asarray(1 - jnp.sum(x**2, 1), np.float64)
e = np.asarray(u - exact, np.float64) / b
basis = np.concatenate([np.ones((len(x), 1)), np.asarray(x, np.float64)], 1)
coef, *_ = np.linalg.lstsq(basis, e, rcond=None)
norm = np.linalg.norm(np.asarray(exact, np.float64))
print(
    f"rel-L2 {np.linalg.norm(b * e) / norm:.3g}",
    f"affine part {np.linalg.norm(b * (basis @ coef)) / norm:.3g}",
    f"rest {np.linalg.norm(b * (e - basis @ coef)) / norm:.3g}",
    f"constant part {abs(coef[0]) * np.linalg.norm(b) / norm:.3g}",
)
