"""Two fine-tunes of 75 steps each from `source_and_finetune.py`'s source: the first
resets the output layer (3 readouts' Gauss-Newton steps first), the second continues from
the first's result; VARIANT sets their dampings (`switch` 1e-3 then 1e-5, `restart` 1e-5
twice, `switch4` 1e-4 then 1e-5), one JSON line a run.

    python two_stage_finetune.py PRESET VARIANT PDE_SEED ...
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import zoo

preset, variant = sys.argv[1], sys.argv[2]
seeds = [int(s) for s in sys.argv[3:]]
_, recipe = zoo.get_preset(preset).recipe("best", 100)
src = Path(f"/tmp/gate/{preset}-src")
quiet = dict(overwrite=True, progress=False, plots=False)
d1, d2 = {"switch": (1e-3, 1e-5), "restart": (1e-5, 1e-5), "switch4": (1e-4, 1e-5)}[variant]


def errors(out, offset):
    metrics = zoo.read_metrics(out)
    return [(offset + r["step"], float(f"{r['rel_l2']:.3g}")) for r in metrics if "rel_l2" in r]


for pde_seed in seeds:
    t = time.time()
    cfg = recipe.replace(steps=75, eval_every=25, n_test=20000, checkpoint_every=75)
    o1 = Path(tempfile.mkdtemp())
    first = cfg.replace(damping=d1)
    zoo.finetune(
        zoo.load(src),
        pde_seed=pde_seed,
        reset="last",
        config=first,
        readout_steps=3,
        out=o1,
        **quiet,
    )
    o2 = Path(tempfile.mkdtemp())
    s = zoo.finetune(
        zoo.load(o1), pde_seed=pde_seed, config=cfg.replace(damping=d2), out=o2, **quiet
    )
    record = dict(preset=preset, kind="ft2-" + variant, pde_seed=pde_seed, final=s.card["rel_l2"])
    record.update(wall_s=round(time.time() - t, 1), curve=errors(o1, 0) + errors(o2, 75))
    print(json.dumps(record), flush=True)
