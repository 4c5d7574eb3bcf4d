"""Fine-tune a solver of one PDE on your own PDE, training only the last layer.

    python examples/finetune_custom_pde.py                               # d = 10
    python examples/finetune_custom_pde.py --dim 4 --steps 5 --finetune-steps 5 --width 8 --depth 2

A solver for the two-body Allen-Cahn equation is trained (or loaded from a run directory
with `--base DIR`), then fine-tuned on a user-defined PDE with a stiffer reaction term,
$\\Delta u + 2(u - u^3) = f$, whose forcing `pdes.CustomPDE` derives from the same exact
solution. Freezing all but the last layer reuses the learned features.
"""

import argparse

import jax

import pdes
import stde
import zoo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dim", type=int, default=10)
parser.add_argument("--base", help="run directory of a trained allen-cahn-twobody solver")
parser.add_argument("--steps", type=int, default=500, help="steps of the base training")
parser.add_argument("--finetune-steps", type=int, default=300)
parser.add_argument("--n-points", type=int, default=2000)
parser.add_argument("--depth", type=int, default=4, help="linear layers if trained here")
parser.add_argument("--width", type=int, default=128)
args = parser.parse_args()

preset = zoo.get_preset("allen-cahn-twobody")
if args.base:
    base = zoo.load(args.base)
else:
    config = preset.train.replace(steps=args.steps, eval_every=0, n_test=args.n_points)
    model = preset.model.replace(width=args.width, depth=args.depth)
    base = zoo.train(preset.name, args.dim, config=config, model=model, progress=False)
dim = base.pde.dim

# Your PDE: any stde operator plus a nonlinearity; the forcing comes from the solution.
truth = pdes.get("allen-cahn-twobody", dim=dim).exact_solution
custom = pdes.CustomPDE(
    dim,
    stde.Laplacian(),
    nonlinearity=lambda u, grad: 2.0 * (u - u**3),
    exact_solution=truth,
    name="stiff-allen-cahn",
)

key = jax.random.PRNGKey(0)
before = zoo.evaluate(zoo.Solver(base.model, custom, None, {}), args.n_points, key=key)
tuned = zoo.finetune(
    base,
    custom,
    config=base.config.train.replace(steps=args.finetune_steps, eval_every=0, n_test=args.n_points),
    freeze="all-but-last",
    progress=False,
)
after = zoo.evaluate(tuned, args.n_points, key=key)
print(
    f"d={dim}, custom PDE: rel-L2 {before['rel_l2']:.2e} before fine-tuning, "
    f"{after['rel_l2']:.2e} after {args.finetune_steps} steps (last layer only); "
    f"trivial fit {after['trivial_rel_l2']:.2e}"
)
