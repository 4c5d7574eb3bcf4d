"""Fine-tuning against training from scratch, measured.

    python scripts/finetune_vs_scratch.py                    # d = 100, 2000 steps
    python scripts/finetune_vs_scratch.py --lrs 1e-3 1e-4 --freezes none first --resets none last
    python scripts/finetune_vs_scratch.py --steps 200 --source allen-cahn-twobody-d100
    python scripts/finetune_vs_scratch.py --steps 10000 --resets last --budgets 1 0.5 0.3
    python scripts/finetune_vs_scratch.py --steps 300 --resets last --head-steps 0 50 --budgets 0.5
    python scripts/finetune_vs_scratch.py --steps 300 --resets last --readout-steps 3 \
        --damping 1e-5 --budgets 0.5

A new PDE of the same family (two-body Allen-Cahn with the coefficients of another seed)
is solved from scratch with the preset's configuration, and by fine-tuning the
pretrained solver `--source` (trained on seed 0) with the same budget and schedule, once
per fine-tuning variant (peak learning rate x frozen layers x output layer reset or not;
every variant is reported, not only the best; `--head-steps` trains the output layer
alone for that many steps first, `zoo.finetune(head_steps=...)`; `--readout-steps` fits
it by Gauss-Newton for that many, `zoo.finetune(readout_steps=...)`; `--damping` is the
fine-tuning runs' natural-gradient damping). The report is the
number of steps each run needs to reach the from-scratch run's final rel-L2 (evaluated
every `--eval-every` steps on the same streamed test points), and the ratio to the
from-scratch steps.

With a schedule that decays to zero, every run's error keeps falling until its last step,
so a fine-tuning run that shares the from-scratch schedule can only match it near the
end; `--budgets` also runs each variant with a shorter budget (a fraction of `--steps`,
its schedule decaying over that budget): the fewest steps that reach the from-scratch
error is then the smallest budget that does.
"""

import argparse
import itertools
import json
import tempfile
from pathlib import Path
from typing import get_args, get_type_hints

import zoo

FREEZES = get_args(get_type_hints(zoo.RunConfig)["freeze"])  # `RunConfig.freeze` choices

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--source", default="allen-cahn-twobody-d100")
parser.add_argument("--pde-seed", type=int, default=1)
parser.add_argument("--steps", type=int, default=2000)
parser.add_argument("--eval-every", type=int, default=100)
parser.add_argument("--n-test", type=int, default=5000)
parser.add_argument("--lrs", type=float, nargs="+", help="fine-tuning peak lrs (default: preset)")
parser.add_argument("--freezes", nargs="+", default=["none"], choices=FREEZES)
parser.add_argument(
    "--resets",
    nargs="+",
    default=["none"],
    choices=["none", "last"],
    help="'last': fine-tune with the output layer set to zero first",
)
parser.add_argument(
    "--head-steps",
    type=int,
    nargs="+",
    default=[0],
    help="steps training the output layer alone first (zoo.finetune's head_steps)",
)
parser.add_argument(
    "--readout-steps",
    type=int,
    nargs="+",
    default=[0],
    help="steps fitting the output layer by Gauss-Newton first (zoo.finetune's readout_steps)",
)
parser.add_argument("--damping", type=float, help="fine-tuning runs' damping (default: source's)")
parser.add_argument(
    "--budgets",
    type=float,
    nargs="+",
    default=[1.0],
    help="fine-tuning budgets as fractions of --steps (each its own schedule)",
)
parser.add_argument("--out", type=Path)
args = parser.parse_args()

source = zoo.load(args.source)
preset, dim = source.config.pde.name, source.config.pde.dim
config = source.config.train.replace(
    steps=args.steps, eval_every=args.eval_every, n_test=args.n_test, checkpoint_every=0
)
lrs = args.lrs or [config.lr]
axes = (lrs, args.freezes, args.resets, args.head_steps, args.readout_steps, args.budgets)
variants = [v for v in itertools.product(*axes) if not (v[3] and v[4])]  # one warm-up each


def curve(records):
    return [(r["step"], r["rel_l2"]) for r in records if r.get("rel_l2") is not None]


with tempfile.TemporaryDirectory() as tmp:
    zoo.train(
        preset,
        dim,
        config=config,
        pde_seed=args.pde_seed,
        out=Path(tmp) / "scratch",
        progress=False,
        plots=False,
    )
    runs = {"scratch": zoo.read_metrics(Path(tmp) / "scratch")}
    for lr, freeze, reset, head, readout, budget in variants:
        steps = round(budget * args.steps)
        name = f"finetune lr={lr:g} freeze={freeze} reset={reset} head={head} steps={steps}"
        if readout:
            name += f" readout_steps={readout}"
        run_config = config.replace(lr=lr, steps=steps)
        if args.damping is not None:
            run_config = run_config.replace(damping=args.damping)
            name += f" damping={args.damping:g}"
        zoo.finetune(
            source,
            preset,
            config=run_config,
            freeze=freeze,
            reset=reset,
            head_steps=head,
            readout_steps=readout,
            pde_seed=args.pde_seed,
            out=Path(tmp) / name,
            progress=False,
            plots=False,
        )
        runs[name] = zoo.read_metrics(Path(tmp) / name)

target = curve(runs["scratch"])[-1][1]
result = {
    "source": args.source,
    "pde": preset,
    "dim": dim,
    "pde_seed": args.pde_seed,
    "steps": args.steps,
    "scratch_final_rel_l2": target,
    "runs": {},
}


def reached(records):
    return next((s for s, e in curve(records) if e <= target), None)


for name, records in runs.items():
    c, n = curve(records), reached(records)
    result["runs"][name] = {
        "steps_to_scratch_final": n,
        "budget": c[-1][0],
        "ratio_to_scratch": None if n is None else n / reached(runs["scratch"]),
        "first_eval": c[0],
        "final_rel_l2": c[-1][1],
        "min_rel_l2": min(e for _, e in c),
    }
print(json.dumps(result, indent=2))
if args.out:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
