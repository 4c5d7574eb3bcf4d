"""The sparse estimator's draw of 16 distinct coordinates for 100 points, two ways.

    python benchmarks/distinct_draw.py --dims 1000 10000 100000

`SparseSTDE(replace=False)` (the published protocol's sampling) drew with
`jax.random.choice(..., replace=False)`, a permutation of all d coordinates per point;
it now uses Floyd's algorithm (`stde._estimators._distinct`), 16 draws whatever d. Both
jitted and vmapped over the points, timed side by side in one process: best of 20 calls
after a warm-up. A markdown table on stdout.
"""

import argparse
import functools
import time

import jax

from stde._estimators import _distinct

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dims", nargs="+", type=int, default=[1000, 10_000, 100_000])
parser.add_argument("--points", type=int, default=100)
parser.add_argument("--k", type=int, default=16)
args = parser.parse_args()


def best_ms(fn, keys) -> float:
    fn(keys).block_until_ready()
    times = []
    for _ in range(20):
        t = time.perf_counter()
        fn(keys).block_until_ready()
        times.append(time.perf_counter() - t)
    return 1e3 * min(times)


keys = jax.random.split(jax.random.PRNGKey(0), args.points)
print(f"Device: {jax.devices()[0]}; {args.points} points, {args.k} distinct coordinates each.\n")
print("| d | permutation (`random.choice`) | Floyd | ratio |")
print("|---:|---:|---:|---:|")
for d in args.dims:
    choice = functools.partial(jax.random.choice, a=d, shape=(args.k,), replace=False)
    shuffle = jax.jit(jax.vmap(choice))
    floyd = jax.jit(jax.vmap(functools.partial(_distinct, dims=d, k=args.k)))
    a, b = best_ms(shuffle, keys), best_ms(floyd, keys)
    print(f"| {d} | {a:.2f} ms | {b:.3f} ms | {a / b:.0f}x |")
