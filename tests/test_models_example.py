"""Smoke test: examples/compose_operator_layers.py runs and reduces the error."""

import importlib.util
import pathlib

import jax.numpy as jnp

_PATH = pathlib.Path(__file__).parents[1] / "examples" / "compose_operator_layers.py"


def test_compose_operator_layers_example(capsys):
    spec = importlib.util.spec_from_file_location("compose_operator_layers", _PATH)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model = example.main(steps=5, dim=3, batch=8)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("step 0:") and lines[-2].startswith("step 5:")
    first, last, trivial = (float(line.rsplit(" ", 1)[-1]) for line in lines[:1] + lines[-2:])
    assert jnp.isfinite(last) and last < first
    # u* = (1 - |x|^2) sin(x0 + x1) is odd: the best K (1 - |x|^2) is near K = 0.
    assert lines[-1].startswith("trivial fit") and 0.9 < trivial <= 1.0
    assert model.u.in_size == 3
