"""Trainer speed: `zoo.train`'s steps per second beside the bare jitted step's.

Four rates per dimension, each in a fresh subprocess, interleaved round by round so a
loaded machine slows all of them alike:

- `engine`, `engine-value`: the engine benchmark's Laplacian cells (`benchmarks/_cells.py`,
  engines `stde` and `stde-value`, the latter taking u from the engine's primal pass as
  the zoo's residuals do): Allen-Cahn on the unit ball with a stand-in forcing, one jitted
  step per dispatch, the host waiting only at the ends of ~1 s windows;
- `step`: the trainer's own step (`zoo._trainer.make_step`: the preset's PDE, forcing and
  sampler) dispatched the same way: what the trainer would run at with no host at all;
- `trainer`: `zoo.train` of the same configuration, its summary `its_per_s` (steps over
  training time after compilation, records and the final evaluation included in the run
  but not in the time).

Same network (4 x 128 tanh MLP in the ball ansatz), 100 points, |J| = 16 sparse STDE, Adam
with a linear schedule, float32, in all four.

    python benchmarks/trainer_speed.py                    # d = 1e2, 1e3; 3 rounds
    python benchmarks/trainer_speed.py --dims 1e2 --rounds 1 --steps 200 --out /tmp/ts
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAG = "TRAINER_SPEED "
KINDS = ("engine", "engine-value", "step", "trainer")
CELLS = {"engine": "stde", "engine-value": "stde-value"}  # The engine benchmark's names.
PRESET = "allen-cahn-twobody"
BATCH, SAMPLES, WIDTH, DEPTH = 100, 16, 128, 4


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dims", default="1e2,1e3", help="comma-separated")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians kept")
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds per rate")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cpu"))
    p.add_argument("--kind", default=None, help=argparse.SUPPRESS)  # child: one rate
    p.add_argument("--dim", type=int, default=100, help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=None, help="trainer steps (default: ~seconds)")
    return p.parse_args(argv)


def _train_config(steps):
    import zoo

    return zoo.TrainConfig(
        steps=steps,
        batch=BATCH,
        num_samples=SAMPLES,
        estimator="sparse",
        log_every=100,  # The default cadence: a chunk ends every 100 steps.
        eval_every=0,  # One evaluation, at the end, outside the timed steps.
        checkpoint_every=0,
        n_test=1000,
    )


def _windows(step, seconds):
    """Rate of `step(i)` dispatched back to back, the host waiting at window ends only."""
    import jax

    jax.block_until_ready(step(0))  # Compile.
    t = time.perf_counter()
    jax.block_until_ready(step(1))
    n = max(1, round(seconds / 5 / (time.perf_counter() - t)))
    rates, i = [], 2
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            out = step(i)
            i += 1
        jax.block_until_ready(out)
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates), n


def child(args):
    if args.kind in CELLS:
        from benchmarks import _cells

        row = _cells.run(
            "laplacian", CELLS[args.kind], args.dim, batch=BATCH, num=SAMPLES, width=WIDTH,
            depth=DEPTH, block_size=0, windows=5, window_s=args.seconds / 5, seed=0,
        )  # fmt: skip
        return {"its_per_s": row["its_per_s"], "steps": 5 * row["steps_per_window"]}
    import zoo
    from zoo import _trainer
    from zoo._optim import make_optimizer, params_of

    model_config = zoo.ModelConfig(width=WIDTH, depth=DEPTH)
    if args.kind == "step":
        config = _train_config(10_000)
        run = zoo.get_preset(PRESET).run_config(args.dim, train=config, model=model_config)
        pde = run.pde.build()
        init_key, data_key = _trainer._keys(config.seed)
        model = zoo.build_model(pde, model_config, key=init_key)
        state = {"model": model, "opt": make_optimizer(config, model).init(params_of(model))}
        step_fn = _trainer.make_step(config)

        def step(i):
            state["model"], state["opt"], loss, _ = step_fn(
                state["model"], state["opt"], pde, data_key, i
            )
            return loss

        rate, n = _windows(step, args.seconds)
        return {"its_per_s": rate, "steps": 5 * n}
    steps = args.steps
    solver = zoo.train(
        PRESET, args.dim, config=_train_config(steps), model=model_config,
        progress=False, plots=False,
    )  # fmt: skip
    card = solver.card
    return {"its_per_s": card["its_per_s"], "steps": steps, "compile_s": card["compile_s"]}


def run_child(kind, dim, args, steps):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--kind", kind, "--dim", str(dim)]
    cmd += ["--seconds", str(args.seconds), "--steps", str(steps)]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG) :])
    raise RuntimeError(f"{kind} d={dim} failed:\n{proc.stderr[-3000:]}")


def _trainer_steps(rows, dim, seconds) -> int:
    """About `seconds` of training at the bare step's last rate (round 0 measures the
    step before the trainer), in whole records of 100 steps."""
    rate = [r["its_per_s"] for r in rows if r["dim"] == dim and r["kind"] == "step"]
    return 100 * max(1, round(seconds * rate[-1] / 100)) if rate else 0


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main(argv=None):
    args = parse_args(argv)
    if args.kind:
        print(TAG + json.dumps(child(args)), flush=True)
        return
    dims = [int(float(d)) for d in args.dims.split(",")]
    rows = []
    for rnd in range(args.rounds):
        for dim in dims:
            # Reversed every other round, so a drift in the machine's load cancels.
            for kind in KINDS if rnd % 2 == 0 else reversed(KINDS):
                steps = args.steps or _trainer_steps(rows, dim, args.seconds)
                row = dict(run_child(kind, dim, args, steps), kind=kind, dim=dim, round=rnd)
                print(json.dumps(row), flush=True)
                rows.append(row)
    import jax

    lines = [
        "# Trainer speed",
        "",
        f"- machine: CPU: {cpu_name()}; shared with other work while it ran, so the "
        "rates are measured in interleaved rounds and the ratios are per round",
        f"- jax {jax.__version__}, float32; {datetime.date.today()}",
        "- command: `"
        + shlex.join(["python", "benchmarks/trainer_speed.py", *(argv or sys.argv[1:])])
        + "`",
        f"- step: {PRESET}, {BATCH} points, |J| = {SAMPLES} sparse STDE, {DEPTH} x {WIDTH} tanh "
        "MLP, Adam; `engine` / `engine-value` are the engine benchmark's `stde` / `stde-value` "
        "cells (stand-in forcing), `step` the trainer's own step dispatched bare, `trainer` "
        "`zoo.train`'s summary it/s",
        "",
        "| d | engine | engine-value | step | trainer (it/s) | trainer / engine | "
        "trainer / engine-value | trainer / step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dim in dims:
        by = {k: [r for r in rows if r["dim"] == dim and r["kind"] == k] for k in KINDS}
        med = {k: statistics.median(r["its_per_s"] for r in by[k]) for k in KINDS}
        pairs = {k: zip(by["trainer"], by[k]) for k in KINDS[:-1]}
        ratio = {
            k: statistics.median(t["its_per_s"] / o["its_per_s"] for t, o in pairs[k])
            for k in pairs
        }
        lines.append(
            f"| {dim:.0e} | "
            + " | ".join(f"{med[k]:.1f}" for k in KINDS)
            + " | "
            + " | ".join(f"{ratio[k]:.2f}x" for k in KINDS[:-1])
            + " |"
        )
    lines += [
        "",
        f"Rates: medians over {args.rounds} rounds; ratios: medians of the per-round ratios.",
        "`trainer / step` is the cost of the training loop around the step (records, "
        "chunks, host syncs); `step / engine` that of the step's content: the preset's "
        "analytic forcing and sampler against the engine cell's stand-in forcing.",
        "",
        "Per round:",
        "",
        "| d | round | kind | it/s | steps timed |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['dim']:.0e} | {r['round']} | {r['kind']} | {r['its_per_s']:.1f} | {r['steps']} |"
        for r in rows
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "trainer-speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
