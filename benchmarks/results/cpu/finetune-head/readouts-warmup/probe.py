import sys, json
import zoo
from zoo._config import readout_settings
from zoo._presets import _parameters
seed = int(sys.argv[1]); warm = int(sys.argv[2]); steps = int(sys.argv[3])
src = zoo.load("allen-cahn-twobody-d100")
model_cfg, recipe = zoo.get_preset("allen-cahn-twobody").recipe("best", 100)
P = _parameters(model_cfg, 100, "last")
fit = zoo.TrainConfig(**readout_settings(P, steps=warm))
cfg = recipe.replace(steps=steps, warmup=fit, eval_every=50, n_test=20000, checkpoint_every=steps)
s = zoo.finetune(src, pde_seed=seed, reset="last", config=cfg, warmup_freeze="all-but-last", progress=False, plots=False)
print(seed, warm, steps, P, fit.batch, s.card["rel_l2"], s.card.get("train_time_s"))
