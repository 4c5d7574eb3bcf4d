"""Window solvers at a high dimension, learned at a low one: the readouts fitted after the move.

    python scripts/dimension_transfer.py                          # two-body, d = 10 000, seeds 0-4
    python scripts/dimension_transfer.py --presets poisson-twobody --pde-seeds 0 --dim 2000

The catalogue's two- and three-body solutions are, divided by the ansatz factor, a sum of
one function of each window of neighbouring coordinates, the same function at every d;
only the weights c_i are the instance. So for each preset and PDE seed this script

1. trains the preset's best recipe at `--source-dim` on the same PDE seed (a window
   network there: its shared MLP learns the window function where steps are cheap);
2. moves the network to `--dim` and fits its readouts and output bias by Gauss-Newton,
   the shared MLP kept (`zoo.fit_readouts`: from the residual-fitted output bias,
   `--steps` natural-gradient steps on the output layer alone, each on `--batch-ratio`
   times as many fresh points as readouts, exact Laplacian). The residual is linear in
   the readouts for Poisson, so one step is the least-squares fit and the next refines
   the float32 solve; Allen-Cahn's and Sine-Gordon's are Newton steps from the trivial
   fit.

With `--source` one given solver (a pretrained name or run directory) is moved instead.
The table gives both runs' errors and times (the transfer's time is the whole cost of the
solver at `--dim` beside the source's); it is written to `--runs/transfer-d<dim>.md` (and
`.json`) after every run. Runs go to `--runs/<preset>-d<dim>-p<seed>`; finished ones are
reused, so other `--dim`s with the same `--runs` reuse the sources.
"""

import argparse
import datetime
import json
import statistics
from pathlib import Path

import jax
from _runs import finish

import zoo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument(
    "--presets", nargs="+", default=["allen-cahn-twobody", "poisson-twobody", "sine-gordon-twobody"]
)
parser.add_argument("--dim", type=int, default=10_000)
parser.add_argument("--source-dim", type=int, default=100)
parser.add_argument(
    "--source",
    help="a pretrained name or run directory to move for every run, in place "
    "of training the preset's best recipe at --source-dim on each seed",
)
parser.add_argument("--pde-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
parser.add_argument("--steps", type=int, default=3, help="Gauss-Newton steps on the readouts")
parser.add_argument("--batch-ratio", type=float, default=1.5, help="points a step per readout")
parser.add_argument("--damping", type=float, default=1e-6)
parser.add_argument("--n-test", type=int, default=5000)
parser.add_argument("--runs", type=Path, default=Path("runs/transfer"))
parser.add_argument("--no-progress", action="store_true")
args = parser.parse_args()


def transfer(source: zoo.Solver, name: str, seed: int, run_dir: Path) -> dict:
    summary = run_dir / "summary.json"
    if summary.is_file():
        print(f"{run_dir}: finished, reusing")
        return json.loads(summary.read_text())
    print(f"{run_dir}: {args.steps} steps")
    zoo.fit_readouts(
        source,
        name,
        dim=args.dim,
        pde_seed=seed,
        steps=args.steps,
        points_per_parameter=args.batch_ratio,
        damping=args.damping,
        n_test=args.n_test,
        out=run_dir,
        overwrite=True,  # an interrupted fit is a few minutes: redone whole
        progress=not args.no_progress,
    )
    return json.loads(summary.read_text())


def source_label() -> str:
    if args.source is not None:
        return f"`{args.source}`"
    return f"d = {args.source_dim} (the preset's best recipe on the same PDE seed)"


def fmt(x, spec=".2e"):
    return format(x, spec)


def table(rows) -> str:
    lines = [
        f"Window solvers moved from {source_label()} to d = {args.dim}, readouts fitted "
        f"from the residual-fitted output bias ({args.steps} Gauss-Newton steps, "
        f"{args.batch_ratio} points a step per readout, "
        f"damping {args.damping}). Device: {jax.devices()[0]}, "
        f"{datetime.date.today().isoformat()}. Final model on {args.n_test} streamed test "
        "points; published: A100, mean of 5 training seeds on one random instance, minimum "
        "over evaluations.",
        "",
        "| preset | seeds | error / trivial median | worst | error median | published | "
        "source time median | transfer time median |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in dict.fromkeys(r["preset"] for r in rows):
        group = [r for r in rows if r["preset"] == name]
        ratios = [r["ratio"] for r in group]
        pub = group[0]["published"]
        lines.append(
            f"| {name} | {len(group)} | {fmt(statistics.median(ratios), '.2g')} "
            f"| {fmt(max(ratios), '.2g')} | {fmt(statistics.median(r['rel_l2'] for r in group))} "
            f"| {'–' if pub is None else fmt(pub)} "
            f"| {statistics.median(r['source_s'] for r in group):.0f} s "
            f"| {statistics.median(r['transfer_s'] for r in group):.0f} s |"
        )
    lines += [
        "",
        "| preset | PDE seed | source error / trivial | error | trivial fit | error / trivial "
        "| source time | transfer time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['seed']} | {fmt(r['source_ratio'], '.2g')} | {fmt(r['rel_l2'])} "
            f"| {fmt(r['trivial'])} | {fmt(r['ratio'], '.2g')} | {r['source_s']:.0f} s "
            f"| {r['transfer_s']:.0f} s |"
        )
    return "\n".join(lines) + "\n"


rows = []
args.runs.mkdir(parents=True, exist_ok=True)
for name in args.presets:
    model, config = zoo.get_preset(name).recipe("best", args.source_dim)
    if args.source is None and model.network != "window-mlp":
        raise SystemExit(f"{name}'s best recipe at d = {args.source_dim} is no window network.")
    for seed in args.pde_seeds:
        if args.source is None:
            src_dir = args.runs / f"{name}-d{args.source_dim}-p{seed}"
            finish(src_dir, name, args.source_dim, config, seed, not args.no_progress, model=model)
            source = zoo.load(src_dir)
        else:
            source = zoo.load(args.source)
        src = source.card
        s = transfer(source, name, seed, args.runs / f"{name}-d{args.dim}-p{seed}")
        rows.append(
            {
                "preset": name,
                "seed": seed,
                "source_ratio": src["rel_l2"] / src["trivial_rel_l2"],
                "source_s": src["train_time_s"],
                "rel_l2": s["rel_l2"],
                "trivial": s["trivial_rel_l2"],
                "ratio": s["rel_l2"] / s["trivial_rel_l2"],
                "published": (zoo.published(name, args.dim) or {}).get("rel_l2"),
                "transfer_s": s["train_time_s"],
            }
        )
        (args.runs / f"transfer-d{args.dim}.md").write_text(table(rows))
        (args.runs / f"transfer-d{args.dim}.json").write_text(json.dumps(rows, indent=1))
print(table(rows))
print(f"written to {args.runs}/transfer-d{args.dim}.md and .json")
