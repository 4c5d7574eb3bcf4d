"""How well does the preset's network fit the exact solution by plain regression?

    python scripts/supervised_reference.py allen-cahn-twobody --dim 1000 --pde-seeds 0 1
    python scripts/supervised_reference.py allen-cahn-twobody --dim 1000 --width 512

The same network, ansatz, optimiser, schedule, step count and points per step as the
preset's training, but the loss is the squared error against the exact solution u* at
the points: what the architecture and the protocol's budget can reach with the answer in
hand. A PINN under the same protocol is not expected to beat it by much; where both stop
at the same error, that error is the protocol's, not the solver's. The error is measured
as the trainer measures it (final model, `n_test` streamed points from `test_seed`).
"""

import argparse
import json
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import zoo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("preset", help="a preset with an exact solution, e.g. allen-cahn-twobody")
parser.add_argument("--dim", type=int, default=None)
parser.add_argument("--pde-seeds", type=int, nargs="+", default=[0])
parser.add_argument("--width", type=int, default=None, help="default: the preset's")
parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
parser.add_argument("--n-test", type=int, default=None, help="default: the preset's")
args = parser.parse_args()


def fit(preset, pde_seed):
    # The protocol's Adam schedule where the preset has one (a regression needs no
    # second-order phase), else the preset's recipe.
    recipe = "protocol" if preset.has_protocol else "best"
    cfg = preset.run_config(args.dim, pde_seed=pde_seed, recipe=recipe)
    model_cfg = cfg.model if args.width is None else cfg.model.replace(width=args.width)
    train = cfg.train.replace(
        steps=args.steps or cfg.train.steps, n_test=args.n_test or cfg.train.n_test
    )
    pde = cfg.pde.build()
    init_key, data_key = jax.random.split(jax.random.PRNGKey(train.seed))
    model = zoo.build_model(pde, model_cfg, key=init_key)
    # Adam with the configuration's schedule (`zoo.TrainConfig.schedule`).
    lr = {
        "linear": optax.linear_schedule(train.lr, 0.0, train.steps),
        "cosine": optax.cosine_decay_schedule(train.lr, train.steps),
    }.get(train.schedule, train.lr)
    optimizer = optax.adam(lr)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = optimizer.init(params)

    @jax.jit
    def step(params, state, key):
        x = pde.sample_interior(key, train.batch)
        target = jax.vmap(pde.reference_solution)(x)

        def loss(p):
            return jnp.mean((jax.vmap(eqx.combine(p, static))(x) - target) ** 2)

        updates, state = optimizer.update(jax.grad(loss)(params), state, params)
        return optax.apply_updates(params, updates), state

    t0 = time.perf_counter()
    for i in range(train.steps):
        params, state = step(params, state, jax.random.fold_in(data_key, i))
    solver = zoo.Solver(eqx.combine(params, static), pde, cfg, {})
    errors = zoo.evaluate(solver, train.n_test, key=jax.random.PRNGKey(train.test_seed))
    return dict(
        preset=preset.name, dim=pde.dim, pde_seed=pde_seed, width=model_cfg.width,
        steps=train.steps, rel_l2=errors["rel_l2"], trivial_rel_l2=errors["trivial_rel_l2"],
        train_s=round(time.perf_counter() - t0, 1),
    )  # fmt: skip


for seed in args.pde_seeds:
    print(json.dumps(fit(zoo.get_preset(args.preset), seed)), flush=True)
