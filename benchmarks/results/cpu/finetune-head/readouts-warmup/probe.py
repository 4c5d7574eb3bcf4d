"""Fine-tune the shipped allen-cahn-twobody-d100 on PDE seed SEED: WARM steps of the
readouts' Gauss-Newton fit (output layer alone), then the recipe's natural-gradient steps
on every layer, STEPS in all. Usage: probe.py SEED WARM STEPS."""

import sys

import zoo
from zoo._config import readout_settings
from zoo._presets import _parameters

seed, warm, steps = (int(a) for a in sys.argv[1:4])
src = zoo.load("allen-cahn-twobody-d100")
model_cfg, recipe = zoo.get_preset("allen-cahn-twobody").recipe("best", 100)
n_readouts = _parameters(model_cfg, 100, "last")
fit = zoo.TrainConfig(**readout_settings(n_readouts, steps=warm))
cfg = recipe.replace(steps=steps, warmup=fit, eval_every=50, n_test=20000, checkpoint_every=steps)
tuned = zoo.finetune(
    src,
    pde_seed=seed,
    reset="last",
    config=cfg,
    warmup_freeze="all-but-last",
    progress=False,
    plots=False,
)
card = tuned.card
print(seed, warm, steps, n_readouts, fit.batch, card["rel_l2"], card.get("train_time_s"))
