"""The window network's readouts (the d = 1000-10 000 two-body recipe: the pair function
learned at d = 100, only the readouts fitted at DIM) by Gauss-Newton steps with the
residuals' gradients, instead of the recipe's natural-gradient readout fit.

    python readouts_probe.py PRESET DIM PDE_SEED STEPS BATCH WEIGHT SCHEDULE LSMR_STEPS OUT
"""

import pathlib
import sys
import time

import zoo

name, dim, seed, steps, batch = sys.argv[1], *map(int, sys.argv[2:6])
weight, schedule, lsmr_steps, out = float(sys.argv[6]), sys.argv[7], int(sys.argv[8]), sys.argv[9]
model, train = zoo.get_preset(name).recipe("best", 10_000)
config = train.replace(
    optimizer="gauss-newton",
    residual_gradient=weight,
    batch=batch,
    steps=steps,
    schedule=schedule,
    lsmr_steps=lsmr_steps,
    eval_every=0,
    n_test=4000,
)
start = time.time()
kwargs = dict(model=model, progress=False, plots=False, pde_seed=seed)
solver = zoo.train(name, dim, config=config, out=pathlib.Path(out) / "r", **kwargs)
ratio = solver.card["rel_l2"] / solver.card["trivial_rel_l2"]
print(f"{name} d={dim} seed={seed}: error / trivial fit {ratio:.5f}, training "
      f"{solver.card['train_time_s']:.0f} s, wall {time.time() - start:.0f} s")  # fmt: skip
