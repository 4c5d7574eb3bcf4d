"""The d = 1e5 step before and after this record's two speed changes, side by side in one
process (rounds interleaved, medians): the two-body forcing's sines and cosines
(`jnp.sin`/`jnp.cos` with a `sum(c * rows)` reduction, as before, against
`pdes._fields.sincos` with the rows' block matrix-vector products, as now) and the
natural-gradient step's Jacobian chunks (16 points, the default, against the whole batch,
`jacobian_chunk=100`, as the recipe now sets). The "before" forcing is rebuilt here by
patching the two functions back.

    PYTHONPATH=. python benchmarks/results/cpu/train-1e5-radial22/step_speed.py  # at commit e93a7db

Run at commit e93a7db; the blocked sums and `sincos` it compares were withdrawn after.
"""

import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import pdes
import pdes._ball as ball
import pdes._fields as fields
import zoo._distributed as dist
from zoo import _natgrad, _presets, _trainer

D, ROUNDS, REPS = 100_000, 5, 3
NEW = (fields.sincos, fields.weighted_sums)


def old_weighted_sums(terms, c):
    sums = jnp.sum(c * jnp.stack(list(terms.values())), axis=-1)
    return dict(zip(terms, sums))


def use(forcing: str) -> None:
    if forcing == "before":
        fields.sincos = lambda x: (jnp.sin(x), jnp.cos(x))
        ball.weighted_sums = old_weighted_sums
    else:
        fields.sincos, ball.weighted_sums = NEW


model_config, train = _presets.get_preset("allen-cahn-twobody").recipe("best", D)
pde = pdes.get("allen-cahn-twobody", dim=D, seed=0)
net = _presets.build_model(pde, model_config, key=jax.random.PRNGKey(0))
params, static = eqx.partition(net, eqx.is_inexact_array)
state = _natgrad.NaturalGradient().init(params)
mesh = dist.make_mesh(1, train.batch)
x = pdes.sample_ball(jax.random.PRNGKey(1), train.batch, D)


def call(name, f, i):
    if name.startswith("step"):
        return f(params, state, jax.random.PRNGKey(i))
    return f(x)


cells = {}
for forcing in ("before", "now"):
    use(forcing)  # each cell is traced and compiled below, under this forcing
    cells[f"forcing, {forcing}"] = jax.jit(jax.vmap(pde.forcing))
    cells[f"solution, {forcing}"] = jax.jit(jax.vmap(pde.exact_solution))
    for chunk in (None, train.batch):
        cfg = train.replace(jacobian_chunk=chunk)
        step = jax.jit(
            lambda p, s, k, cfg=cfg: _trainer._natural_gradient_update(
                p, static, s, pde, k, 1.0, cfg, "none", jnp.float32, mesh
            )
        )
        cells[f"step, forcing {forcing}, chunk {chunk or 16}"] = step
    for name, f in cells.items():
        if forcing in name:
            jax.block_until_ready(call(name, f, 0))
use("now")


times = {name: [] for name in cells}
for r in range(ROUNDS):
    order = list(cells.items())[:: 1 if r % 2 == 0 else -1]
    for name, f in order:
        t = time.perf_counter()
        for i in range(REPS):
            jax.block_until_ready(call(name, f, i))
        times[name].append((time.perf_counter() - t) / REPS)
med = {name: statistics.median(v) for name, v in times.items()}
print(f"d = {D}, {train.batch} points, {jax.devices()[0].device_kind}, jax {jax.__version__}")
for name, t in med.items():
    print(f"  {name:40s} {t:.4f} s")
print(f"forcing: before / now {med['forcing, before'] / med['forcing, now']:.2f}x")
print(f"solution: before / now {med['solution, before'] / med['solution, now']:.2f}x")
now = med["step, forcing now, chunk 100"]
before, chunked = med["step, forcing before, chunk 16"], med["step, forcing now, chunk 16"]
print(f"step: before (16-point chunks, old forcing) / now {before / now:.2f}x")
print(f"step: 16-point chunks / whole batch, new forcing {chunked / now:.2f}x")
