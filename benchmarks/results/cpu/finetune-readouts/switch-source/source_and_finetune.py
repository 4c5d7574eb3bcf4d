"""A d = 100 two-body source trained with the damping switch (150 steps at the recipe's
damping, 150 at 1e-5; PDE seed 0), then fine-tuned on other PDE seeds in 150 steps (3
readouts' Gauss-Newton steps, then damping 1e-5), one JSON line a run.

    python source_and_finetune.py PRESET PDE_SEED ...
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import zoo

preset = sys.argv[1]
seeds = [int(s) for s in sys.argv[2:]]
_, recipe = zoo.get_preset(preset).recipe("best", 100)
src = Path(f"/tmp/gate/{preset}-src")
quiet = dict(overwrite=True, progress=False, plots=False)
if not (src / "config.json").exists():
    cfg = recipe.replace(warmup=recipe.replace(steps=150, warmup=None), damping=1e-5)
    s = zoo.train(preset, 100, pde_seed=0, config=cfg, out=src, **quiet)
    print(json.dumps(dict(preset=preset, kind="source2", final=s.card["rel_l2"])), flush=True)
for pde_seed in seeds:
    cadence = dict(steps=150, eval_every=25, n_test=20000, checkpoint_every=150)
    cfg = recipe.replace(**cadence, damping=1e-5)
    out = Path(tempfile.mkdtemp())
    t = time.time()
    base = zoo.load(src)
    s = zoo.finetune(
        base, pde_seed=pde_seed, reset="last", config=cfg, readout_steps=3, out=out, **quiet
    )
    metrics = zoo.read_metrics(out)
    curve = [(r["step"], float(f"{r['rel_l2']:.3g}")) for r in metrics if "rel_l2" in r]
    record = dict(preset=preset, kind="ft-from-switch", pde_seed=pde_seed)
    record.update(final=s.card["rel_l2"], wall_s=round(time.time() - t, 1), curve=curve)
    print(json.dumps(record), flush=True)
