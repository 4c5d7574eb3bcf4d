"""Gate: shipped-style d=100 solvers trained with the damping switch; fine-tune them."""
import json, sys, time, tempfile
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
    cfg = recipe.replace(steps=150, eval_every=25, n_test=20000, checkpoint_every=150, damping=1e-5)
    out = Path(tempfile.mkdtemp())
    t = time.time()
    s = zoo.finetune(zoo.load(src), pde_seed=pde_seed, reset="last", config=cfg, readout_steps=3, out=out, **quiet)
    curve = [(r["step"], float(f"{r['rel_l2']:.3g}")) for r in zoo.read_metrics(out) if "rel_l2" in r]
    print(json.dumps(dict(preset=preset, kind="ft-from-switch", pde_seed=pde_seed, final=s.card["rel_l2"], wall_s=round(time.time()-t,1), curve=curve)), flush=True)
