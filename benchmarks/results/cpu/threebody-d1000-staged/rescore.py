"""Each run directory's last evaluation as its run recorded it (u* in float32, as the
evaluation computed it until 2026-12-04) beside the same model scored now (u* in float64),
on the same test points (the run's test seed and count):

    python benchmarks/results/cpu/threebody-d1000-staged/rescore.py RUN_DIR [RUN_DIR ...]

One JSON line per run: error / trivial fit, recorded and against the float64 truth.
(Run directories of the probe commit ba2df4e carry a `source_pde_seed` field no longer
known; it was dropped from their config.json first.)
"""

import json
import sys

import zoo

for run in sys.argv[1:]:
    last = [m for m in zoo.read_metrics(run) if "rel_l2" in m][-1]
    now = zoo.evaluate(zoo.load(run), last["n_points"])
    record = dict(
        run=run,
        step=last["step"],
        recorded=round(last["rel_l2"] / last["trivial_rel_l2"], 4),
        float64_truth=round(now["rel_l2"] / now["trivial_rel_l2"], 4),
    )
    print(json.dumps(record), flush=True)
