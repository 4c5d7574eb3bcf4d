"""Train the named pretrained solvers and write them to zoo/pretrained/.

    python scripts/train_pretrained.py                         # every entry, 10 000 steps each
    python scripts/train_pretrained.py allen-cahn-twobody-d100 # one entry
    python scripts/train_pretrained.py --steps 20 --dest /tmp/p allen-cahn-twobody-d100  # try it

For each entry `<preset>-d<dim>` (see `python -m zoo list`) the run goes to
`--runs/<name>`: a finished run is reused, an interrupted one resumed, so the script can
be stopped and restarted. The final model is written as `<dest>/<name>.eqx` with its
model card `<dest>/<name>.json` (PDE and seed, model, training configuration, final
rel-L2 beside the trivial fit and the published figure, training time, device,
versions, sha256), which `zoo.load(name)` checks.
"""

import argparse
import sys
import time
from pathlib import Path

from _runs import finish

import zoo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("names", nargs="*", help="entries (default: all)")
parser.add_argument("--runs", type=Path, default=Path("runs/pretrained"))
parser.add_argument("--dest", type=Path, default=Path(zoo.__file__).parent / "pretrained")
parser.add_argument("--steps", type=int, help="override the entry's steps (for trying out)")
parser.add_argument("--no-progress", action="store_true")
args = parser.parse_args()

names = args.names or zoo.pretrained_names()
for name in names:
    try:
        entry = zoo.get_pretrained(name)
    except ValueError as e:
        sys.exit(f"error: {e}")
    config = entry.train if args.steps is None else entry.train.replace(steps=args.steps)
    run_dir = args.runs / name
    t = time.perf_counter()
    finish(run_dir, entry.preset, entry.dim, config, entry.pde_seed, not args.no_progress)
    card = zoo.export_pretrained(run_dir, name, args.dest)
    if "rel_error" in card:  # a point-evaluation preset: no rel-L2 over the domain
        error = f"relative error at the reference point {card['rel_error']:.2e}"
    else:
        published = card.get("published_rel_l2")
        error = (
            f"rel-L2 {card.get('rel_l2', float('nan')):.2e} (trivial "
            f"{card.get('trivial_rel_l2', float('nan')):.2e}, published "
            f"{'-' if published is None else f'{published:.2e}'})"
        )
    print(f"{name}: {error} -> {args.dest / card['file']} [{time.perf_counter() - t:.0f} s]")
