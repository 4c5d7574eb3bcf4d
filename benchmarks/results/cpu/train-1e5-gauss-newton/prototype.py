"""The prototype behind the recipe, outside the trainer: the affine network with a radial
term from the residual-fitted output bias, each step the least-squares solution of the
batch's rows [r, mu grad_x r] by conjugate gradients on the normal equations (residuals
scaled to unit norm first), error / trivial fit on 4000 test points after each step.

    python prototype.py PRESET DIM PDE_SEED BATCH STEPS CG_STEPS MU DAMPING AVERAGE

DAMPING is relative to the normal equations' scale; AVERAGE 1: rate 1 / (1 + t), 0: rate 1.
"""

import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import zoo
from zoo._evaluate import sample, stream_errors
from zoo._presets import build_model
from zoo._trainer import fit_output_bias

name, dim, seed, batch, steps, cg_steps = sys.argv[1], *map(int, sys.argv[2:7])
mu, damping, average = float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9])
preset = zoo.get_preset(name)
pde = preset.run_config(dim, pde_seed=seed).pde.build()
model_config, train_config = preset.recipe("best", dim)
model = build_model(pde, model_config, key=jax.random.PRNGKey(0))
model = fit_output_bias(model, pde, train_config, jax.random.PRNGKey(1))
params, static = eqx.partition(model, eqx.is_inexact_array)


def norm(tree):
    return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(tree)))


def evaluate(params):
    errors = stream_errors(eqx.combine(params, static), pde, n=4000, key=jax.random.PRNGKey(12345))
    return errors["rel_l2"] / errors["trivial_rel_l2"]


def rows(params, xs):
    m = eqx.combine(params, static)

    def one(x):
        r, g = jax.value_and_grad(lambda y: pde.residual(m, y))(x)
        return jnp.concatenate([r[None], mu * g])

    return jax.vmap(one)(xs).ravel()


@eqx.filter_jit
def step(params, xs, rate):
    r, jvp = jax.linearize(lambda p: rows(p, xs), params)
    vjp = jax.linear_transpose(jvp, params)
    rhs = jax.tree.map(jnp.negative, vjp(r)[0])
    size = norm(rhs)
    unit = jax.tree.map(lambda x: x / size, rhs)
    scale = norm(vjp(jvp(unit))[0])

    def normal(v):
        return jax.tree.map(lambda a, b: a / scale + damping * b, vjp(jvp(v))[0], v)

    y, _ = jax.scipy.sparse.linalg.cg(normal, unit, maxiter=cg_steps)
    return jax.tree.map(lambda p, a: p + rate * a * (size / scale), params, y)


print("start", evaluate(params), flush=True)
key, start = jax.random.PRNGKey(7), time.time()
for i in range(steps):
    xs = sample(pde, jax.random.fold_in(key, i), batch, jnp.float32)
    params = step(params, xs, 1.0 / (i + 1) if average else 1.0)
    print(i, f"{time.time() - start:.1f} s", evaluate(params), flush=True)
