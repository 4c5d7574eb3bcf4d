"""Trainer speed: `zoo.train`'s steps per second beside the engine benchmark's step.

Five rates per dimension, all in one process (one per dimension), each compiled once and
then timed for about `--seconds` per round, the five interleaved round by round (reversed
every other round) so a change in the shared machine's load meets them alike; the ratios
are taken per round:

- `engine`, `engine-value`: the engine benchmark's Laplacian cells (`benchmarks/_cells.py`,
  engines `stde` and `stde-value`, the latter taking u from the engine's primal pass as
  the zoo's residuals do): Allen-Cahn on the unit ball with a cheap stand-in forcing, one
  jitted step per dispatch, the host waiting only at the end of each timing;
- `engine-pde`: the `stde-value` cell with the preset's analytic forcing and sampler in
  place of the stand-ins: the same computation as the trainer's step, in the engine
  benchmark's harness;
- `step`: the trainer's own compiled steps (`zoo._trainer.make_chunk`: the preset's PDE,
  forcing and sampler), 100 per dispatch as the trainer runs them, without its records;
- `trainer`: `zoo.train` of the same configuration, one run per round, its summary
  `its_per_s` (steps over training time after compilation, records and the final
  evaluation included in the run but not in the time).

Same network (4 x 128 tanh MLP in the ball ansatz), 100 points, |J| = 16 sparse STDE, Adam
with a linear schedule, float32, in all five.

The target (trainer >= 0.95x the engine's step) is `trainer / engine-pde`: the
two compute the same thing, so the ratio is what the trainer's harness costs. The
stand-in cells leave out the analytic forcing, O(d) transcendentals per point (a
few ms per step at d = 1e3 on a CPU), which is the PDE's content, not overhead;
`engine-pde / engine-value` is what it costs.

    python benchmarks/trainer_speed.py                    # d = 1e2, 1e3; 3 rounds
    python benchmarks/trainer_speed.py --dims 1e2 --rounds 1 --seconds 2 --out /tmp/ts
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
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds per rate and round")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cpu"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one dimension
    p.add_argument("--dim", type=int, default=100, help=argparse.SUPPRESS)
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


def _rate(run, n, units):
    """Steps per second of `run(n)` (which dispatches `n` units of `units` steps and
    returns an output of the last), the host waiting once, at the end."""
    import jax

    t = time.perf_counter()
    jax.block_until_ready(run(n))
    return n * units / (time.perf_counter() - t)


def _kinds(dim):
    """kind -> `(run(n), units)`, each compiled: `run(n)` dispatches `n` units of `units`
    steps. For `trainer`, `run(n)` is one `zoo.train` of `100 n` steps, whose rate is the
    summary's (training time without compilation or the final evaluation), appended to the
    returned list."""
    import jax
    import jax.numpy as jnp

    import zoo
    from benchmarks import _cells
    from zoo import _trainer
    from zoo._evaluate import sample
    from zoo._optim import init_state, make_optimizer

    pde = zoo.get_preset(PRESET).run_config(dim).pde.build()
    cell = dict(batch=BATCH, num=SAMPLES, width=WIDTH, depth=DEPTH, block_size=0, seed=0)
    # The trainer's forcing and its sampling route (`zoo._trainer._collocation`).
    preset_pde = dict(
        forcing=pde.forcing, sample=lambda key, n, d: sample(pde, key, n, jnp.float32)
    )
    kinds = {
        kind: (
            _cells.build(
                "laplacian", engine, dim, **cell, **(preset_pde if kind == "engine-pde" else {})
            ),
            1,
        )
        for kind, engine in CELLS.items()
    }
    model_config = zoo.ModelConfig(width=WIDTH, depth=DEPTH)
    config = _train_config(10_000)
    init_key, data_key = _trainer._keys(config.seed)
    model = zoo.build_model(pde, model_config, key=init_key)
    state = {"model": model, "opt": init_state(make_optimizer(config, model), model), "i": 0}
    chunk_fn = _trainer.make_chunk(config)

    def step(n):
        for _ in range(n):
            # Steps i * CHUNK + 1 .. (i + 1) * CHUNK, wrapping within the run's 10 000.
            start = (state["i"] * CHUNK) % (config.steps - CHUNK)
            state["model"], state["opt"], losses, _ = chunk_fn(
                state["model"], state["opt"], pde, data_key, start, CHUNK
            )
            state["i"] += 1
        return losses

    kinds["step"] = (step, CHUNK)
    rates = []

    def trainer(n):
        solver = zoo.train(
            PRESET, dim, config=_train_config(n * 100), model=model_config,
            progress=False, plots=False,
        )  # fmt: skip
        rates.append(solver.card["its_per_s"])
        return jnp.zeros(())

    kinds["trainer"] = (trainer, 100)
    for run, _ in kinds.values():  # Compile (and, for the trainer, set up) once.
        jax.block_until_ready(run(1))
    return kinds, rates


def child(args):
    """All five rates at one dimension, in one process: rounds of about `seconds` per kind,
    the kinds interleaved (reversed every other round) so a change in the machine's load
    meets them alike."""
    kinds, trainer_rates = _kinds(args.dim)
    # Units per round from one short timing of each kind.
    units = {}
    for kind, (run, u) in kinds.items():
        rate = trainer_rates[-1] if kind == "trainer" else _rate(run, 1, u)
        units[kind] = max(1, round(args.seconds * rate / u))
    rows = []
    for rnd in range(args.rounds):
        for kind in KINDS if rnd % 2 == 0 else reversed(KINDS):
            run, u = kinds[kind]
            rate = _rate(run, units[kind], u)
            if kind == "trainer":  # Its own clock: training time after compilation.
                rate = trainer_rates[-1]
            rows.append(
                dict(kind=kind, dim=args.dim, round=rnd, its_per_s=rate, steps=units[kind] * u)
            )
    return rows


def run_child(dim, args):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--dim", str(dim)]
    cmd += ["--seconds", str(args.seconds), "--rounds", str(args.rounds)]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=7200)
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG) :])
    raise RuntimeError(f"d={dim} failed:\n{proc.stderr[-3000:]}")


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        print(TAG + json.dumps(child(args)), flush=True)
        return
    dims = [int(float(d)) for d in args.dims.split(",")]
    load = [os.getloadavg()[0]]  # The machine's 1-minute load at the start and the end.
    rows = []
    for dim in dims:
        for row in run_child(dim, args):
            print(json.dumps(row), flush=True)
            rows.append(row)
    load.append(os.getloadavg()[0])
    import jax

    lines = [
        "# Trainer speed",
        "",
        f"- machine: CPU: {cpu_name()}; shared with other work while it ran, so the "
        "rates are measured in one process per d, in interleaved rounds, and the ratios "
        "are per round; load "
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
