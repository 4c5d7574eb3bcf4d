"""Define your own PDE in a few lines, check it, and take a few training steps.

Allen-Cahn-type $\\Delta u + u - u^3 = f$ on the unit ball in 4 dimensions, with a
manufactured solution: `CustomPDE` derives the forcing $f$ from it with `stde.Exact()`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import pdes
import stde

dim = 4
pde = pdes.CustomPDE(
    dim,
    stde.Laplacian(),
    nonlinearity=lambda u, grad: u - u**3,
    exact_solution=lambda x: (1 - x @ x) * jnp.sin(x[0] + 0.5 * x[1]),
)

key = jax.random.PRNGKey(0)
x = pde.sample_interior(key, 16)
# The manufactured solution has zero residual.
print(
    "max |residual(u*)|:",
    jnp.max(jnp.abs(jax.vmap(lambda y: pde.residual(pde.exact_solution, y))(x))),
)

# A tiny network with the recommended ansatz u = (1 - |x|^2) N(x), trained with sparse STDE.
net = eqx.nn.MLP(dim, "scalar", width_size=16, depth=1, activation=jnp.tanh, key=key)


def u_fn(net, y):
    return pde.ansatz.factor(y) * net(y)


def loss(net, key):
    pts = pde.sample_interior(key, 32)
    keys = jax.random.split(jax.random.fold_in(key, 1), 32)
    res = jax.vmap(
        lambda y, k: pde.residual(lambda z: u_fn(net, z), y, estimator=stde.SparseSTDE(2), key=k)
    )(pts, keys)
    return jnp.mean(res**2)


opt = optax.adam(1e-3)
state = opt.init(eqx.filter(net, eqx.is_array))


@eqx.filter_jit
def step(net, state, key):
    value, grads = eqx.filter_value_and_grad(loss)(net, key)
    updates, state = opt.update(grads, state, net)
    return eqx.apply_updates(net, updates), state, value


for i in range(3):
    net, state, value = step(net, state, jax.random.fold_in(key, i))
print("loss after 3 steps:", float(value))
