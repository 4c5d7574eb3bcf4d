"""The peak resident memory of `zoo.train` at high d, phase by phase.

Usage: python benchmarks/results/cpu/peak-memory-1e6/probe.py DIM STEPS N_TEST

Wraps the trainer's phases (the bias fit and its points, the evaluations, the summary,
the plots) and prints the process's peak resident set size before and after each: the
first phase after which it rises is the one that set it.
"""

import resource
import sys
import time

import jax

import zoo
import zoo._plots as plots
import zoo._trainer as trainer


def rss(tag: str) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"{time.strftime('%X')} {tag}: maxrss {peak:.2f} GB", flush=True)


def wrap(module, name: str) -> None:
    f = getattr(module, name)

    def wrapped(*args, **kwargs):
        rss(f"before {name}")
        out = f(*args, **kwargs)
        if not isinstance(out, dict):
            jax.block_until_ready(out)
        rss(f"after {name}")
        return out

    setattr(module, name, wrapped)


for module, name in [
    (plots, "plot_slice"),
    (plots, "plot_curves"),
    (trainer, "_summary"),
    (trainer, "fit_output_bias"),
    (trainer, "stream_errors"),
    (trainer, "sample"),
]:
    wrap(module, name)
dim, steps, n_test = (int(a) for a in sys.argv[1:4])
rss("start")
zoo.train(
    "allen-cahn-twobody",
    dim=dim,
    out=f"/tmp/peak-memory-{dim}",
    overwrite=True,
    progress=False,
    steps=steps,
    n_test=n_test,
)
rss("end")
