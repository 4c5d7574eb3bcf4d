"""u(0, T) of a semilinear parabolic preset by multilevel Picard, with its standard error.

    python scripts/picard_reference.py --family heat --dim 10 --level 6 --num-samples 6 \\
        --repeats 100 --out benchmarks/results/cpu/picard-reference/runs.jsonl

`--repeats` independent MLP estimates (`pdes.multilevel_picard` at `--level` with
`--num-samples` M, float32 unless `--x64`) of u(0, T), T = 0.3, run `--group` at a time
(one batch of points each, group b seeded by fold_in(PRNGKey(seed), b)): their mean and
standard error, beside the published value where there is one. The compiled kernels
depend on the group's size, not on the number of groups, so more repeats cost samples
only. The error bar is statistical: MLP is biased at a finite level, so a reference
needs a level whose mean agrees with the next one's. Prints one line and appends it as
JSON to `--out`.

XLA compiles a few dozen small kernels per (level, group size); at XLA's default
backend optimisation (3) that takes minutes on two cores, so this script asks for
level 1 unless XLA_FLAGS sets one: ~3x faster compilation for ~30% slower sampling.
"""

import argparse
import json
import math
import os
import platform
import time

if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=1"
    ).strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pdes  # noqa: E402
from pdes._parabolic import FAMILIES, FINAL_TIME, _source_of  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--family", choices=FAMILIES, required=True)
parser.add_argument("--dim", type=int, required=True)
parser.add_argument("--level", type=int, required=True, help="MLP level n")
parser.add_argument("--num-samples", type=int, required=True, help="MLP samples M")
parser.add_argument("--repeats", type=int, default=20, help="independent estimates (>= 2)")
parser.add_argument("--group", type=int, default=20, help="estimates run as one batch")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--x64", action="store_true", help="float64 (default float32)")
parser.add_argument("--out", default=None, help="append the result as a JSON line here")
args = parser.parse_args()
if args.repeats < 2 or args.group < 1:
    parser.error("--repeats must be >= 2 and --group >= 1")

if args.x64:
    jax.config.update("jax_enable_x64", True)
pde = pdes.SemilinearParabolicPDE(args.dim, family=args.family)
g, F = pde.initial_condition, _source_of(args.family)
t0 = time.perf_counter()
values, first = [], None
for b, start in enumerate(range(0, args.repeats, args.group)):
    size = min(args.group, args.repeats - start)
    x = jnp.zeros((size, args.dim))  # `size` copies of the origin: independent draws
    key = jax.random.fold_in(jax.random.PRNGKey(args.seed), b)
    values.append(np.asarray(pdes.multilevel_picard(g, F, x, FINAL_TIME, key, level=args.level,
                                                    num_samples=args.num_samples)))  # fmt: skip
    first = first or time.perf_counter() - t0
values = np.concatenate(values).astype(np.float64)
wall = time.perf_counter() - t0
mean, stderr = float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))
published = pde.reference_value if args.family != "sine-gordon" else None
record = {
    "family": args.family,
    "dim": args.dim,
    "final_time": FINAL_TIME,
    "level": args.level,
    "num_samples": args.num_samples,
    "repeats": args.repeats,
    "group": args.group,
    "seed": args.seed,
    "dtype": "float64" if args.x64 else "float32",
    "mean": mean,
    "stderr": stderr,
    "sd_one": float(values.std(ddof=1)),
    "published": published,
    "z": None if published is None else (mean - published) / stderr,
    "wall_s": round(wall, 1),
    "first_group_s": round(first, 1),  # includes the compilation
    "xla_flags": os.environ.get("XLA_FLAGS", ""),
    "cpus": os.cpu_count(),
    "jax": jax.__version__,
    "python": platform.python_version(),
}
line = f"{args.family} d={args.dim} n={args.level} M={args.num_samples} K={args.repeats}: "
line += f"u(0, T) = {mean:.5f} ± {stderr:.5f}"
if published is not None:
    line += f"  (published {published:.5f}, {record['z']:+.1f} s.e.)"
print(line + f"  [{wall:.1f} s, first group {first:.1f} s]", flush=True)
if args.out:
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")
