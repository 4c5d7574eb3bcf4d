"""The probes behind the damping choice: one run, its error every 25 steps, as a JSON line.

    PRESET=poisson-twobody python benchmarks/results/cpu/finetune-readouts/probe.py \\
        KIND PDE_SEED TRAIN_SEED STEPS [FIELD=VALUE ...]

KIND: `scratch` (the d = 100 best recipe), `scratch2` (its first half at the recipe's
damping, then the rest at 1e-5: two phases of one `TrainConfig`), or `ft` (the shipped
PRESET-d100 solver fine-tuned with the output layer reset, the first 3 steps the
readouts' Gauss-Newton fit). FIELD=VALUE: `zoo.TrainConfig` fields of the run (for `ft`
of its natural-gradient steps), e.g. `damping=1e-5 lr=1.0`.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import zoo

preset = os.environ.get("PRESET", "allen-cahn-twobody")
kind, pde_seed, train_seed, steps = sys.argv[1], *(int(a) for a in sys.argv[2:5])
changes = {}
for item in sys.argv[5:]:
    field, value = item.split("=")
    changes[field] = type(getattr(zoo.TrainConfig(), field))(value)
_, recipe = zoo.get_preset(preset).recipe("best", 100)
cadence = dict(steps=steps, eval_every=25, n_test=20000, checkpoint_every=steps, seed=train_seed)
config = recipe.replace(**{**cadence, **changes})
if kind == "scratch2":
    config = config.replace(warmup=config.replace(steps=steps // 2, warmup=None), damping=1e-5)
out = Path(tempfile.mkdtemp())
start = time.time()
quiet = dict(out=out, overwrite=True, progress=False, plots=False)
if kind == "ft":
    base = zoo.load(f"{preset}-d100")
    solver = zoo.finetune(
        base, pde_seed=pde_seed, reset="last", config=config, readout_steps=3, **quiet
    )
else:
    solver = zoo.train(preset, 100, pde_seed=pde_seed, config=config, **quiet)
curve = [(r["step"], r["rel_l2"]) for r in zoo.read_metrics(out) if "rel_l2" in r]
record = dict(preset=preset, kind=kind, pde_seed=pde_seed, train_seed=train_seed, steps=steps)
record.update(changes=changes, final=solver.card["rel_l2"], wall_s=round(time.time() - start, 1))
print(json.dumps({**record, "curve": [(s, float(f"{e:.3g}")) for s, e in curve]}), flush=True)
