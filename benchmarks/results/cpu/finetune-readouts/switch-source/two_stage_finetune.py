import json, sys, time, tempfile
from pathlib import Path
import zoo
preset, variant = sys.argv[1], sys.argv[2]
seeds = [int(s) for s in sys.argv[3:]]
_, recipe = zoo.get_preset(preset).recipe("best", 100)
src = Path(f"/tmp/gate/{preset}-src")
quiet = dict(overwrite=True, progress=False, plots=False)
d1, d2 = {"switch": (1e-3, 1e-5), "restart": (1e-5, 1e-5), "switch4": (1e-4, 1e-5)}[variant]
for pde_seed in seeds:
    t = time.time(); curve = []
    cfg = recipe.replace(steps=75, eval_every=25, n_test=20000, checkpoint_every=75)
    o1 = Path(tempfile.mkdtemp())
    s = zoo.finetune(zoo.load(src), pde_seed=pde_seed, reset="last", config=cfg.replace(damping=d1), readout_steps=3, out=o1, **quiet)
    curve += [(r["step"], float(f"{r['rel_l2']:.3g}")) for r in zoo.read_metrics(o1) if "rel_l2" in r]
    o2 = Path(tempfile.mkdtemp())
    s = zoo.finetune(zoo.load(o1), pde_seed=pde_seed, config=cfg.replace(damping=d2), out=o2, **quiet)
    curve += [(75 + r["step"], float(f"{r['rel_l2']:.3g}")) for r in zoo.read_metrics(o2) if "rel_l2" in r]
    print(json.dumps(dict(preset=preset, kind="ft2-" + variant, pde_seed=pde_seed, final=s.card["rel_l2"], wall_s=round(time.time()-t,1), curve=curve)), flush=True)
