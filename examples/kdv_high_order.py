"""High-order mixed partials: train the 2D KdV-type equation, which needs $u_{xxxy}$.

    python examples/kdv_high_order.py                        # the preset's recipe, ~3 min
    python examples/kdv_high_order.py --steps 3 --width 8 --depth 2   # smoke test

$u_{ty} + u_{xxxy} + 3(u_{xy}u_x + u_y u_{xx}) - u_{xx} + 2u_{yy} = f$ on
$[0, 1]^2 \\times [0, 1]$, $u = 0$ on the square's edges. The engine plans the jets for
$u_{xxxy}$ from the multi-index and verifies the plan (the published 13-jet construction
for this partial is wrong, see docs/concepts/engines.md); here the planned value is
checked against nested forward-mode AD first. The preset's recipe: 500 Adam steps, then
500 natural-gradient steps on 400 points (`zoo.TrainConfig.optimizer`).
"""

import argparse

import jax
import jax.numpy as jnp

import stde
import zoo
from pdes.research import trivial_fit_formula

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
parser.add_argument("--width", type=int, default=128)
parser.add_argument("--depth", type=int, default=4)
parser.add_argument("--n-points", type=int, default=2000)
args = parser.parse_args()


def u(x):
    return jnp.exp(-x[2]) * jnp.sin(jnp.pi * x[0]) * jnp.sin(jnp.pi * x[1])


x = jnp.array([0.3, 0.7, 0.2])
planned = stde.estimate(stde.Partial((0, 0, 0, 1)), u, x, estimator=stde.Exact())
nested = jax.jacfwd(jax.jacfwd(jax.jacfwd(jax.jacfwd(u))))(x)[0, 0, 0, 1]
print(f"u_xxxy: jets {float(planned):.6f}, nested AD {float(nested):.6f}")

steps = {} if args.steps is None else {"steps": args.steps}
solver = zoo.train(
    "kdv-2d",
    **steps,
    eval_every=0,
    n_test=args.n_points,
    width=args.width,
    depth=args.depth,
    progress=False,
)
errors = zoo.evaluate(solver, args.n_points)
print(
    f"kdv-2d after {solver.card['steps']} steps: rel-L2 {errors['rel_l2']:.2e} "
    f"(trivial fit u = {trivial_fit_formula(solver.pde.ansatz)}: {errors['trivial_rel_l2']:.2e}, "
    "the initial condition g kept and one scalar K fitted)"
)
