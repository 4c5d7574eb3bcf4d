"""Regress u* with a window MLP (no PDE residual): what the architecture reaches.

    python supervised_window.py PRESET DIM WINDOW WIDTH DEPTH STEPS [LR] [SCALE]

Adam with a linear decay, 100 fresh points a step, from the trivial fit K (1 - |x|^2)
(the readout at zero, K by least squares); prints the rel-L2 on 2000 fixed points, and at
the end the mean squared exact PDE residual of the fitted model and of the trivial fit.
"""

import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import models
import stde
import zoo

preset, dim, window, width, depth, steps = sys.argv[1], *map(int, sys.argv[2:7])
lr = float(sys.argv[7]) if len(sys.argv) > 7 else 1e-3
scale = float(sys.argv[8]) if len(sys.argv) > 8 else 1.0
pde = zoo.get_preset(preset).run_config(dim, pde_seed=0).pde.build()
net = models.WindowMLP(dim, window, width, depth, 1, scale=scale, key=jax.random.PRNGKey(0))
model = models.Constrained(net, pde.ansatz)
xs = pde.sample_interior(jax.random.PRNGKey(5), 2000)
us = jax.vmap(pde.reference_solution)(xs)
factor = jax.vmap(eqx.tree_at(models.output_bias, model, jnp.ones(1)))(xs)
k = jnp.sum(factor * us) / jnp.sum(factor * factor)
model = eqx.tree_at(models.output_bias, model, jnp.full((1,), k))
optimizer = optax.adam(optax.linear_schedule(lr, 0.0, steps))
params, static = eqx.partition(model, eqx.is_inexact_array)
state = optimizer.init(params)


@jax.jit
def step(params, state, key):
    x = pde.sample_interior(key, 100)
    target = jax.vmap(pde.reference_solution)(x)

    def loss(p):
        return jnp.mean((jax.vmap(eqx.combine(p, static))(x) - target) ** 2)

    value, grad = jax.value_and_grad(loss)(params)
    updates, state = optimizer.update(grad, state, params)
    return optax.apply_updates(params, updates), state, value


def rel_l2(params):
    error = jax.vmap(eqx.combine(params, static))(xs) - us
    return float(jnp.linalg.norm(error) / jnp.linalg.norm(us))


print("trivial fit", rel_l2(params))
start = time.time()
for i in range(steps):
    params, state, value = step(params, state, jax.random.PRNGKey(1000 + i))
    if (i + 1) % (steps // 5) == 0:
        print(i + 1, rel_l2(params), float(value), round(time.time() - start, 1), flush=True)

points = pde.sample_interior(jax.random.PRNGKey(99), 400)


@eqx.filter_jit
def residual(model):
    r = jax.vmap(lambda y: pde.residual(model, y, estimator=stde.Exact()))(points)
    return jnp.mean(r**2)


fitted = eqx.combine(params, static)
trivial = eqx.tree_at(lambda m: m.net.readout.weight, fitted, replace_fn=jnp.zeros_like)
print("mean squared residual: fitted", float(residual(fitted)), "trivial", float(residual(trivial)))
