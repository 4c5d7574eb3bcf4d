# Split a run's test error into its affine part (of N = u / (1 - |x|^2)) and the rest.
import sys, jax, jax.numpy as jnp, numpy as np, zoo
s = zoo.load(sys.argv[1])
pde = s.pde
x = pde.sample_interior(jax.random.PRNGKey(5), 6000)
u = jax.vmap(s.model)(x); us = jax.vmap(pde.exact_solution)(x)
b = 1 - jnp.sum(x**2, 1)
e = np.asarray((u - us) / b, np.float64)
A = np.concatenate([np.ones((len(x), 1)), np.asarray(x, np.float64)], 1)
coef, *_ = np.linalg.lstsq(A, e, rcond=None)
rest = e - A @ coef
nu = np.linalg.norm(np.asarray(us))
bb = np.asarray(b)
print("rel-L2", np.linalg.norm(np.asarray(u-us))/nu, "affine part", np.linalg.norm(bb*(A@coef))/nu, "rest", np.linalg.norm(bb*rest)/nu, "const part", abs(coef[0])*np.linalg.norm(bb)/nu)
