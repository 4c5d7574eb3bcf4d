"""Probes for a three-body recipe at d = 1000 started from the d = 100 recipe's network
(`TrainConfig.source_dim=100`): one run, its error every 25 steps, as a JSON line.

    python benchmarks/results/cpu/threebody-d1000-staged/probe.py PRESET PDE_SEED VARIANT \\
        [FIELD=VALUE ...]

VARIANT: `gn` (the warm-up is the readouts' Gauss-Newton fit, `zoo.fit_readouts`' three
steps) or `ngN` (the warm-up is N natural-gradient steps on the readouts alone); then
natural-gradient steps on every layer to 150 in all, 1200 points a step. FIELD=VALUE:
`zoo.TrainConfig` fields of those steps (default damping 1e-3), or `source_seed=S`: the
source is trained on PDE seed S (default the run's own). The d = 100 source of a
(PRESET, PDE seed) is trained once, into runs/threebody-d1000-staged/PRESET-seedS-source,
and copied into each run's directory, where `zoo.train` reuses it.
"""

import json
import shutil
import sys
import time
from pathlib import Path

import zoo
from zoo._config import readout_settings
from zoo._presets import _parameters

preset, pde_seed, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
changes, source_seed = {}, pde_seed
for item in sys.argv[4:]:
    field, value = item.split("=")
    if field == "source_seed":
        source_seed = int(value)
    else:
        changes[field] = type(getattr(zoo.TrainConfig(), field))(value)
model, source_recipe = zoo.get_preset(preset).recipe("best", 100)
quiet = dict(overwrite=True, progress=False, plots=False)
runs = Path("runs/threebody-d1000-staged")
source = runs / f"{preset}-seed{source_seed}-source"
if not (source / "summary.json").is_file():
    zoo.train(
        preset, 100, pde_seed=source_seed, model=model, config=source_recipe, out=source, **quiet
    )
steps = dict(steps=150, batch=1200, damping=1e-3, eval_every=25, checkpoint_every=150, n_test=5000)
main = source_recipe.replace(**{**steps, **changes})
if variant == "gn":
    readouts = _parameters(model.replace(centred=True), 1000, "last")
    warmup = zoo.TrainConfig(**readout_settings(readouts))
else:
    warmup = main.replace(steps=int(variant[2:]), warmup=None)
config = main.replace(warmup=warmup, source_dim=100, init_bias="residual")
if source_seed != pde_seed:
    config = config.replace(source_pde_seed=source_seed)
out = runs / "-".join(
    [f"{preset}-seed{pde_seed}-{variant}"]
    + [f"{k}{v}" for k, v in changes.items()]
    + ([f"source{source_seed}"] if source_seed != pde_seed else [])
)
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(source, out / "source")
start = time.time()
solver = zoo.train(
    preset,
    1000,
    pde_seed=pde_seed,
    model=model,
    config=config,
    out=out,
    progress=False,
    plots=False,
)
curve = [(r["step"], r["rel_l2"]) for r in zoo.read_metrics(out) if "rel_l2" in r]
record = dict(preset=preset, pde_seed=pde_seed, variant=variant, changes=changes)
record.update(source_seed=source_seed)
record.update(final=solver.card["rel_l2"], trivial=solver.card.get("trivial_rel_l2"))
record.update(
    wall_s=round(time.time() - start, 1), curve=[(s, float(f"{e:.3g}")) for s, e in curve]
)
print(json.dumps(record), flush=True)
