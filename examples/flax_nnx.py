"""Use the STDE estimators from a Flax NNX model (or any JAX function) and train it.

    pip install -e ".[flax]"        # flax is an optional extra
    python examples/flax_nnx.py                        # d = 100, 300 steps
    python examples/flax_nnx.py --dim 8 --steps 3      # smoke test

`stde.estimate` and the `pdes` residuals take any callable `u(x) -> scalar` on one point
`x` of shape `(d,)`: an Equinox module, a Flax NNX module, or a plain function. This
script first estimates the Laplacian of a plain function, then trains a Flax NNX MLP on
the two-body Poisson equation of the catalogue with sparse STDE (|J| = 16), using Flax's
own optimiser and `nnx.jit`.
"""

import argparse

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import pdes
import stde

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dim", type=int, default=100)
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--width", type=int, default=64)
parser.add_argument("--batch", type=int, default=100)
args = parser.parse_args()

# 1. Any JAX function: u(x) = sum(sin x) has Laplacian -sum(sin x).
x0 = jnp.linspace(0.1, 0.9, args.dim)
lap = stde.estimate(stde.Laplacian(), lambda x: jnp.sum(jnp.sin(x)), x0)
print(f"plain function: Laplacian {float(lap):.6f}, expected {float(-jnp.sum(jnp.sin(x0))):.6f}")


# 2. A Flax NNX model.
class MLP(nnx.Module):
    def __init__(self, dim: int, width: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.List(
            [nnx.Linear(dim, width, rngs=rngs), nnx.Linear(width, width, rngs=rngs)]
        )
        self.out = nnx.Linear(width, 1, rngs=rngs)

    def __call__(self, x):  # one point (d,) -> scalar
        for layer in self.hidden:
            x = jnp.tanh(layer(x))
        return self.out(x)[0]


pde = pdes.get("poisson-twobody", dim=args.dim, seed=0)
model = MLP(args.dim, args.width, rngs=nnx.Rngs(0))
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
estimator = stde.SparseSTDE(16)


def u(model, x):
    # The catalogue's hard-constraint ansatz: (1 - |x|^2) N(x) vanishes on the sphere.
    return pde.ansatz.factor(x) * model(x)


def loss_fn(model, key):
    kx, kr = jax.random.split(key)
    xs = pde.sample_interior(kx, args.batch)
    keys = jax.random.split(kr, args.batch)
    r = jax.vmap(lambda x, k: pde.residual(lambda y: u(model, y), x, estimator=estimator, key=k))(
        xs, keys
    )
    return jnp.mean(r**2)


@nnx.jit
def train_step(model, optimizer, key):
    loss, grads = nnx.value_and_grad(loss_fn)(model, key)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def rel_l2(model, xs):
    pred = jax.vmap(lambda x: u(model, x))(xs)
    true = jax.vmap(pde.exact_solution)(xs)
    return jnp.linalg.norm(pred - true) / jnp.linalg.norm(true)


test = pde.sample_interior(jax.random.PRNGKey(12345), 2000)
key = jax.random.PRNGKey(1)
for step in range(1, args.steps + 1):
    loss = train_step(model, optimizer, jax.random.fold_in(key, step))
    if step % max(1, args.steps // 5) == 0 or step == args.steps:
        print(f"step {step}: loss {float(loss):.3e}, rel-L2 {float(rel_l2(model, test)):.3e}")
print(f"trivial fit K (1 - |x|^2): rel-L2 {pdes.research.trivial_rel_l2(pde, test):.3e}")
