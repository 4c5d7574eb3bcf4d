"""kill -9 soak: a run killed at random moments (some inside checkpoint writes) and
resumed each time ends bit-identical to an uninterrupted run.

    python scripts/soak_kill.py                      # 20 kills, 800 steps, d = 4
    python scripts/soak_kill.py --kills 50 --seed 1 --keep /tmp/soak

One uninterrupted reference run, then one run started and resumed (`python -m zoo train
--resume`) after each SIGKILL until it finishes. Half the kills wait for a checkpoint
write in progress (a `.checkpoint.eqx.*.tmp` file in the run directory, polled every
0.2 ms) and kill there; the others land at a uniformly random time in the stepping
phase. Checked at the end: the final checkpoint's payload (parameters and optimiser
state) has the reference's sha256; `metrics.jsonl` holds every step once, none missing,
with the reference's losses and errors; no temporary file is left. Prints the figures and
exits 1 if a check fails.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import models  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--kills", type=int, default=20)
parser.add_argument("--steps", type=int, default=800)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--keep", type=Path, help="work here (kept) instead of a temporary dir")
args = parser.parse_args()

TINY = [
    "allen-cahn-twobody", "--dim", "4", "--batch", "8", "--num-samples", "2", "--width",
    "8", "--depth", "2", "--n-test", "32", "--log-every", "1", "--eval-every", "25",
    "--checkpoint-every", "1", "--no-progress", "--no-plots",
]  # fmt: skip
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}


def start(*extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", "train", *map(str, extra)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def records(run: Path) -> list[dict]:
    import zoo

    return [r for r in zoo.read_metrics(run) if "event" not in r]


def temp_files(run: Path) -> list[str]:
    return [p.name for p in run.iterdir() if p.name.endswith(".tmp")] if run.exists() else []


def main() -> int:
    rng = random.Random(args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="stde-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    ref, run = work / "reference", work / "run"
    for d in (ref, run):
        shutil.rmtree(d, ignore_errors=True)
    steps = ["--steps", args.steps]
    t = time.perf_counter()
    proc = start(*TINY, *steps, "--out", ref)
    _, err = proc.communicate()
    if proc.returncode:
        print(err, file=sys.stderr)
        return 1
    ref_time = time.perf_counter() - t
    print(f"reference: {args.steps} steps in {ref_time:.1f} s -> {ref}")

    kills = {"checkpoint write": 0, "random time": 0}
    restarts = 0
    for k in range(args.kills):
        first = not (run / "checkpoint.eqx").exists()
        proc = start(*TINY, *steps, "--out", run) if first else start("--resume", run)
        restarts += 1
        in_write = k % 2 == 0
        # Wait until it steps (past imports and compilation), then for the moment.
        done_before = len(records(run)) if run.exists() else 0
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline:
            if run.exists() and len(records(run)) > done_before:
                break
            time.sleep(0.01)
        if proc.poll() is not None:
            print(f"trial {k}: the run finished before the kill; stopping the soak")
            break
        if in_write:
            until = time.time() + 30
            while proc.poll() is None and time.time() < until:
                if any(n.startswith(".checkpoint.eqx.") for n in temp_files(run)):
                    break
                time.sleep(0.0002)
        else:
            time.sleep(rng.uniform(0.0, 1.5))
        landed = (
            "checkpoint write"
            if any(n.startswith(".checkpoint.eqx.") for n in temp_files(run))
            else "random time"
        )
        if proc.poll() is not None:
            print(f"trial {k}: the run finished before the kill; stopping the soak")
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills[landed] += 1
        step = models.read_header(run / "checkpoint.eqx")["metadata"]["step"]
        print(
            f"kill {k + 1:2d}: SIGKILL at step {step} ({landed}; temp files: "
            f"{temp_files(run) or 'none'})"
        )
    # To the end, without kills.
    while True:
        proc = (
            start("--resume", run)
            if (run / "checkpoint.eqx").exists()
            else start(*TINY, *steps, "--out", run)
        )
        restarts += 1
        _, err = proc.communicate()
        if proc.returncode:
            print(err, file=sys.stderr)
            return 1
        if (run / "summary.json").exists():
            break

    a, b = (models.read_header(d / "checkpoint.eqx") for d in (ref, run))
    same_state = (
        a["payload_sha256"] == b["payload_sha256"]
        and a["metadata"]["step"] == b["metadata"]["step"]
    )
    ours, theirs = records(run), records(ref)
    step_list = [r["step"] for r in ours]
    keys = ("step", "loss", "rel_l2", "trivial_rel_l2", "linf")
    same_records = [{k: r.get(k) for k in keys} for r in ours] == [
        {k: r.get(k) for k in keys} for r in theirs
    ]
    duplicated = len(step_list) - len(set(step_list))
    missing = sorted(set(range(1, args.steps + 1)) - set(step_list))
    leftovers = temp_files(run)
    rejected = run / "metrics.rejected.jsonl"
    n_rejected = len(rejected.read_text().splitlines()) if rejected.exists() else 0
    summary_same = (
        json.loads((ref / "summary.json").read_text())["rel_l2"]
        == json.loads((run / "summary.json").read_text())["rel_l2"]
    )
    print(
        f"\nkills: {sum(kills.values())} ({kills['checkpoint write']} inside a checkpoint "
        f"write, {kills['random time']} at a random time); processes started: {restarts}"
    )
    print(f"final state bit-identical to the reference: {same_state}")
    print(f"metrics records equal to the reference's (loss, errors): {same_records}")
    print(f"duplicated steps: {duplicated}; missing steps: {len(missing)} {missing[:10]}")
    print(f"final rel-L2 equal: {summary_same}")
    print(f"temporary files left: {len(leftovers)} {leftovers}")
    print(f"unparsable metrics lines set aside: {n_rejected}")
    ok = same_state and same_records and not duplicated and not missing and not leftovers
    ok = ok and summary_same
    print("PASS" if ok else "FAIL")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
