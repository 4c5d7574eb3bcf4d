"""Fine-tune a d = 1000 window solver at another dimension with its input scale KEPT
(the pair function phi(x_i, x_{i+1}) is the same function of x in every dimension), not
multiplied by the ratio of coordinate rms.
Usage: keep_scale.py SOURCE PRESET DIM SEED OUT HEAD STEPS FREEZE [field=value ...]"""

import sys

import zoo
import zoo._trainer

src, preset, dim, seed, out, head, steps, freeze = sys.argv[1:9]
extra = {k: float(v) for k, v in (a.split("=") for a in sys.argv[9:])}
zoo._trainer.coordinate_rms = lambda pde: 1.0  # scale unchanged
zoo.finetune(
    zoo.load(src),
    preset,
    pde_seed=int(seed),
    dim=int(dim),
    reset="last",
    head_steps=int(head),
    steps=int(steps),
    freeze=freeze,
    eval_every=25,
    checkpoint_every=25,
    n_test=5000,
    out=out,
    progress=False,
    **{"batch": 1200, **{k: int(v) if k == "batch" else v for k, v in extra.items()}},
)
