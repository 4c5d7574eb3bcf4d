"""The wide presets' d <= 128 recipe (window network, 600 natural-gradient steps on 200
points, damping 1e-2) at another dimension. Usage: run.py PRESET DIM SEED OUT [field=value ...]"""

import sys

import zoo
from zoo._presets import _WIDE_BEST

preset, dim, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
model, train = _WIDE_BEST(100)
extra = {
    k: (int(v) if k in ("batch", "steps") else float(v))
    for k, v in (a.split("=") for a in sys.argv[5:])
}
zoo.train(
    preset,
    dim,
    pde_seed=seed,
    model=model,
    config=train.replace(**extra),
    n_test=5000,
    out=out,
    progress=False,
)
