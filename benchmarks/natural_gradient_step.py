"""What a Woodbury natural-gradient step costs, by part, for the two-body ball PDEs.

    python benchmarks/natural_gradient_step.py                 # d = 100 and 1000, 400 points
    python benchmarks/natural_gradient_step.py --dims 1000 --nets 1024x2
    python benchmarks/natural_gradient_step.py --dims 100 1000 10000 --nets w2-16x4
    python benchmarks/natural_gradient_step.py --dims 100 1000 --nets 128x4 n128x4

For each dimension and network (`WIDTHxDEPTH` a `models.MLP`, `nWIDTHxDEPTH` the same
behind a `models.SquaredNorm` (`ModelConfig.norm_input`), `wW-WIDTHxDEPTH` a
`models.WindowMLP` with window W and the zoo's input scale; in the ball ansatz, two-body
Allen-Cahn, the exact Laplacian) it times, each jitted and compiled first, the best of
`--repeats`:

- `residual`: the residuals of `--batch` points;
- `jacobian`: their per-point gradients (`jax.grad` under `jax.vmap`, a chunk of points
  at a time on a CPU), as the trainer's step forms the rows of J;
- `gram`: J J^T from those rows, the step's batch x batch matrix.

The Cholesky solve of a batch x batch matrix and the parameter update are small beside
these. One line per case on stdout (markdown table rows).
"""

import argparse
import time

import equinox as eqx
import jax

import models
import pdes
import stde
import zoo
from zoo import _distributed as dist
from zoo._natgrad import _gram, _rows
from zoo._presets import resolve_model
from zoo._trainer import _in_chunks

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dims", type=int, nargs="+", default=[100, 1000])
parser.add_argument("--nets", nargs="+", default=["128x4", "256x2", "512x2", "1024x2"])
parser.add_argument("--batch", type=int, default=400)
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()


def best_time(fn, *xs) -> float:
    jax.block_until_ready(fn(*xs))  # compile
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*xs))
        times.append(time.perf_counter() - start)
    return min(times)


def network(pde, net: str) -> eqx.Module:
    window, _, shape = net.rpartition("-")
    width, depth = map(int, shape.removeprefix("n").split("x"))
    if shape.startswith("n"):  # |x|^2 / d as one more input
        mlp = models.MLP(pde.dim + 1, width=width, depth=depth, key=jax.random.PRNGKey(0))
        return models.Embedded(models.SquaredNorm(pde.dim, pde.dim), mlp)
    if not window:
        return models.MLP(pde.dim, width=width, depth=depth, key=jax.random.PRNGKey(0))
    config = zoo.ModelConfig(network="window-mlp", window=int(window[1:]), width=width, depth=depth)
    scale = resolve_model(config, pde).scale
    return models.WindowMLP(
        pde.dim, int(window[1:]), width, depth, scale=scale, key=jax.random.PRNGKey(0)
    )


def times(pde, x, net: str) -> tuple[int, float, float, float]:
    """Parameters and the best times of the residuals, the Jacobian rows and J J^T."""
    u = models.Constrained(network(pde, net), stde.BallAnsatz())
    params, static = eqx.partition(u, eqx.is_inexact_array)

    def residual(p, y):
        u = eqx.combine(p, static)
        return pde.residual(u, y, estimator=stde.Exact(), key=jax.random.PRNGKey(1))

    residuals = jax.jit(jax.vmap(residual, in_axes=(None, 0)))
    mesh = dist.make_mesh(1, x.shape[0])
    jacobian = jax.jit(lambda p, x: _in_chunks(lambda y: jax.grad(residual)(p, y), mesh, None, x))

    @jax.jit
    def gram(jac):  # as the trainer's step forms it
        return _gram(_rows(jac, x.shape[0]))

    n = sum(leaf.size for leaf in jax.tree.leaves(params))
    jac = jacobian(params, x)
    return n, best_time(residuals, params, x), best_time(jacobian, params, x), best_time(gram, jac)


print(f"device: {jax.devices()[0].device_kind}, batch {args.batch}")
print("| d | network | parameters | residual | jacobian | gram | step (sum) |")
print("|---:|---|---:|---:|---:|---:|---:|")
for dim in args.dims:
    pde = pdes.get("allen-cahn-twobody", dim=dim, seed=0)
    x = pde.sample_interior(jax.random.PRNGKey(0), args.batch)
    for net in args.nets:
        n, t_res, t_jac, t_gram = times(pde, x, net)
        print(
            f"| {dim} | {net} | {n} | {t_res:.3f} s | {t_jac:.3f} s "
            f"| {t_gram:.3f} s | {t_res + t_jac + t_gram:.3f} s |",
            flush=True,
        )
