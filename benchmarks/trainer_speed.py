"""Trainer speed: `zoo.train`'s steps per second beside the engine benchmark's step.

Five rates per dimension, each in a fresh subprocess, interleaved round by round so a
loaded machine slows all of them alike:

- `engine`, `engine-value`: the engine benchmark's Laplacian cells (`benchmarks/_cells.py`,
  engines `stde` and `stde-value`, the latter taking u from the engine's primal pass as
  the zoo's residuals do): Allen-Cahn on the unit ball with a cheap stand-in forcing, one
  jitted step per dispatch, the host waiting only at the ends of ~1 s windows;
- `engine-pde`: the `stde-value` cell with the preset's analytic forcing and sampler in
  place of the stand-ins: the same computation as the trainer's step, in the engine
  benchmark's harness;
- `step`: the trainer's own compiled steps (`zoo._trainer.make_chunk`: the preset's PDE,
  forcing and sampler), 100 per dispatch as the trainer runs them, without its records;
- `trainer`: `zoo.train` of the same configuration, its summary `its_per_s` (steps over
  training time after compilation, records and the final evaluation included in the run
  but not in the time).

Same network (4 x 128 tanh MLP in the ball ansatz), 100 points, |J| = 16 sparse STDE, Adam
with a linear schedule, float32, in all five.

The target (trainer >= 0.95x the engine's step) is `trainer / engine-pde`: the
two compute the same thing, so the ratio is what the trainer's harness costs. The
stand-in cells leave out the analytic forcing, O(d) transcendentals per point (a
few ms per step at d = 1e3 on a CPU), which is the PDE's content, not overhead;
`engine-pde / engine-value` is what it costs.

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
KINDS = ("engine", "engine-value", "engine-pde", "step", "trainer")
# The engine benchmark's names; `engine-pde` runs its cell with the preset's forcing and sampler.
CELLS = {"engine": "stde", "engine-value": "stde-value", "engine-pde": "stde-value"}
CHUNK = 100  # Steps per dispatch of `step`: the trainer's, at `log_every=100`.
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

        extra = {}
        if args.kind == "engine-pde":
            import jax.numpy as jnp

            import zoo
            from zoo._evaluate import sample

            pde = zoo.get_preset(PRESET).run_config(args.dim).pde.build()
            # The trainer's forcing and its sampling route (`zoo._trainer._collocation`).
            extra = dict(
                forcing=pde.forcing, sample=lambda key, n, d: sample(pde, key, n, jnp.float32)
            )
        row = _cells.run(
            "laplacian", CELLS[args.kind], args.dim, batch=BATCH, num=SAMPLES, width=WIDTH,
            depth=DEPTH, block_size=0, windows=5, window_s=args.seconds / 5, seed=0, **extra,
        )  # fmt: skip
        return {"its_per_s": row["its_per_s"], "steps": 5 * row["steps_per_window"]}
    import zoo
    from zoo import _trainer
    from zoo._optim import init_state, make_optimizer

    model_config = zoo.ModelConfig(width=WIDTH, depth=DEPTH)
    if args.kind == "step":
        config = _train_config(10_000)
        run = zoo.get_preset(PRESET).run_config(args.dim, train=config, model=model_config)
        pde = run.pde.build()
        init_key, data_key = _trainer._keys(config.seed)
        model = zoo.build_model(pde, model_config, key=init_key)
        state = {"model": model, "opt": init_state(make_optimizer(config, model), model)}
        chunk_fn = _trainer.make_chunk(config)

        def chunk(i):
            # Steps i * CHUNK + 1 .. (i + 1) * CHUNK, wrapping within the run's 10 000.
            start = (i * CHUNK) % (config.steps - CHUNK)
            state["model"], state["opt"], losses, _ = chunk_fn(
                state["model"], state["opt"], pde, data_key, start, CHUNK
            )
            return losses

        rate, n = _windows(chunk, args.seconds)
        return {"its_per_s": CHUNK * rate, "steps": 5 * n * CHUNK}
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
    load = [os.getloadavg()[0]]  # The machine's 1-minute load at the start and the end.
    rows = []
    for rnd in range(args.rounds):
        for dim in dims:
            # Reversed every other round, so a drift in the machine's load cancels.
            for kind in KINDS if rnd % 2 == 0 else reversed(KINDS):
                steps = args.steps or _trainer_steps(rows, dim, args.seconds)
                row = dict(run_child(kind, dim, args, steps), kind=kind, dim=dim, round=rnd)
                print(json.dumps(row), flush=True)
                rows.append(row)
    load.append(os.getloadavg()[0])
    import jax

    lines = [
        "# Trainer speed",
        "",
        f"- machine: CPU: {cpu_name()}; shared with other work while it ran, so the "
        "rates are measured in interleaved rounds and the ratios are per round; load "
        f"average {load[0]:.1f} at the start, {load[1]:.1f} at the end, on {os.cpu_count()} "
        "cores",
        f"- jax {jax.__version__}, float32; {datetime.date.today()}",
        "- command: `"
        + shlex.join(["python", "benchmarks/trainer_speed.py", *(argv or sys.argv[1:])])
        + "`",
        f"- step: {PRESET}, {BATCH} points, |J| = {SAMPLES} sparse STDE, {DEPTH} x {WIDTH} tanh "
        "MLP, Adam; `engine` / `engine-value` are the engine benchmark's `stde` / `stde-value` "
        "cells (stand-in forcing and sampler), `engine-pde` the `stde-value` cell with the "
        f"preset's forcing and sampler, `step` the trainer's compiled steps ({CHUNK} per "
        "dispatch, no records), `trainer` `zoo.train`'s summary it/s",
        "",
        "| d | "
        + " | ".join(KINDS)
        + " (it/s) | "
        + " | ".join(f"trainer / {k}" for k in KINDS[:-1])
        + " | engine-pde / engine-value |",
        "|---|" + "---|" * (2 * len(KINDS)),
    ]
    for dim in dims:
        by = {k: [r for r in rows if r["dim"] == dim and r["kind"] == k] for k in KINDS}
        med = {k: statistics.median(r["its_per_s"] for r in by[k]) for k in KINDS}
        pairs = {k: zip(by["trainer"], by[k]) for k in KINDS[:-1]}
        ratio = {
            k: statistics.median(t["its_per_s"] / o["its_per_s"] for t, o in pairs[k])
            for k in pairs
        }
        content = statistics.median(
            p["its_per_s"] / v["its_per_s"] for p, v in zip(by["engine-pde"], by["engine-value"])
        )
        lines.append(
            f"| {dim:.0e} | "
            + " | ".join(f"{med[k]:.1f}" for k in KINDS)
            + " | "
            + " | ".join(f"{ratio[k]:.2f}x" for k in KINDS[:-1])
            + f" | {content:.2f}x |"
        )
    lines += [
        "",
        f"Rates: medians over {args.rounds} rounds; ratios: medians of the per-round ratios.",
        "**`trainer / engine-pde` is the ratio the 0.95x target applies to**: "
        "the two compute the same step (the preset's PDE, forcing and sampler), so it is "
        "what the trainer's harness costs. `trainer / step` is the cost of the training "
        "loop around its compiled steps (records, host syncs); `engine-pde / engine-value` "
        "that of the PDE's content, the analytic forcing (O(d) transcendentals per point) "
        "and sampler against the stand-ins, which the trainer cannot leave out.",
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
