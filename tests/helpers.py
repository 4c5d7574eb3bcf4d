import contextlib
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# The command-line flags of a tiny run (d = 4, an 8-unit, 2-layer network, 8 points and
# 2 estimator samples per step); each test adds its own cadences.
TINY_RUN_FLAGS = ["--dim", "4", "--batch", "8", "--num-samples", "2", "--width", "8"]
TINY_RUN_FLAGS += ["--depth", "2"]


@contextlib.contextmanager
def on_compile(callback):
    """Calls `callback()` at every XLA backend compilation inside the block."""

    def listener(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            callback()

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8):
    """Whether two pytrees have the same structure and numerically close leaves."""
    xs, xdef = jax.tree_util.tree_flatten(x)
    ys, ydef = jax.tree_util.tree_flatten(y)
    if xdef != ydef:
        return False
    return all(
        np.shape(a) == np.shape(b) and bool(jnp.allclose(a, b, rtol=rtol, atol=atol))
        for a, b in zip(xs, ys)
    )


def run_python(*args, cwd=ROOT, timeout=600) -> subprocess.CompletedProcess:
    """`python *args` in a fresh process, on the CPU, with the repository importable;
    output captured as text."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def summary_card(published) -> dict:
    """A finished run's card (error / trivial fit 0.05) with the published figure given."""
    return {
        "steps": 1000,
        "rel_l2": 2e-3,
        "rel_l2_min": 2e-3,
        "trivial_rel_l2": 4e-2,
        "rel_l2_over_trivial": 0.05,
        "n_points": 2000,
        "published_rel_l2": published,
    }
