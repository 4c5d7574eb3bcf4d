"""Fine-tuning against training from scratch, measured.

    python scripts/finetune_vs_scratch.py                    # d = 100, 2000 steps
    python scripts/finetune_vs_scratch.py --steps 200 --dim 100 --source allen-cahn-twobody-d100

A new PDE of the same family (two-body Allen-Cahn with the coefficients of another seed)
is solved twice with the same budget and schedule: from scratch, and starting from the
pretrained solver `--source` (trained on seed 0). The report is the number of steps each
needs to reach the from-scratch run's final rel-L2 (evaluated every `--eval-every`
steps on the same streamed test points).
"""

import argparse
import json
import tempfile
from pathlib import Path

import zoo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--source", default="allen-cahn-twobody-d100")
parser.add_argument("--pde-seed", type=int, default=1)
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--eval-every", type=int, default=100)
parser.add_argument("--n-test", type=int, default=5000)
parser.add_argument("--out", type=Path)
args = parser.parse_args()

source = zoo.load(args.source)
preset, dim = source.config.pde.name, source.config.pde.dim
config = source.config.train.replace(
    steps=args.steps, eval_every=args.eval_every, n_test=args.n_test, checkpoint_every=0
)
with tempfile.TemporaryDirectory() as tmp:
    zoo.train(preset, dim, config=config, pde_seed=args.pde_seed, out=Path(tmp) / "scratch",
              progress=False, plots=False)
    zoo.finetune(source, preset, config=config, pde_seed=args.pde_seed,
                 out=Path(tmp) / "finetune", progress=False, plots=False)
    runs = {name: zoo.read_metrics(Path(tmp) / name) for name in ("scratch", "finetune")}


def curve(records):
    return [(r["step"], r["rel_l2"]) for r in records if r.get("rel_l2") is not None]


target = curve(runs["scratch"])[-1][1]
reached = {
    name: next((s for s, e in curve(records) if e <= target), None)
    for name, records in runs.items()
}
result = {
    "source": args.source, "pde": preset, "dim": dim, "pde_seed": args.pde_seed,
    "steps": args.steps, "scratch_final_rel_l2": target,
    "finetune_final_rel_l2": curve(runs["finetune"])[-1][1],
    "steps_to_scratch_final": reached,
    "ratio": None if reached["finetune"] is None else reached["finetune"] / reached["scratch"],
    "finetune_at_step_0": curve(runs["finetune"])[0],
}
print(json.dumps(result, indent=2))
if args.out:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
