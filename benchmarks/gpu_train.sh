#!/usr/bin/env bash
# On an accelerator: train every pretrained entry and the published-protocol accuracy runs
# at d = 1e4, plus the 1e6-dimension two-body Allen-Cahn run with weight sharing, as
# parallel processes on one device. Usage: bash benchmarks/gpu_train.sh OUTDIR
# Small outputs (pretrained weights and cards, metrics, summaries, plots, tables) go to
# OUTDIR; checkpoints stay in a scratch folder.
set -u
out=${1:-benchmarks/results/gpu-train}
budget=${BUDGET:-380}
scratch=${SCRATCH:-/tmp/stde-runs}
mkdir -p "$out/pretrained" "$out/logs" "$scratch"
export PYTHONPATH=$PWD:${PYTHONPATH:-}
export XLA_PYTHON_CLIENT_PREALLOCATE=false
for name in $(python3 -c "import zoo; print(' '.join(zoo.pretrained_names()))"); do
  timeout "$budget" python3 scripts/train_pretrained.py "$name" --runs "$scratch/pre" \
    --dest "$out/pretrained" --no-progress > "$out/logs/pretrained-$name.log" 2>&1 &
done
for pde in allen-cahn-twobody poisson-twobody sine-gordon-twobody; do
  timeout "$budget" python3 scripts/accuracy_table.py --presets "$pde" --dims 10000 \
    --pde-seeds 0 --runs "$scratch/acc-$pde-d10000" --no-progress \
    > "$out/logs/accuracy-$pde-d10000.log" 2>&1 &
done
# The published 1e6-dimension setup (docs/results.md), with the first layer shared over blocks:
# 10 000 steps (fewer cannot move the output to u*'s amplitude, see the README); its
# results land in benchmarks/results/<device>/train-1e6.{json,md}.
timeout "${BUDGET_1E6:-580}" python3 -m benchmarks.train_1e6 --out "$out" \
  --run-dir "$scratch/ac-1e6" --no-progress > "$out/logs/ac-1e6.log" 2>&1 &
# The zoo's best recipe at d = 1e6 (32 Gauss-Newton steps of 16 points with the residuals'
# gradients; on two CPU cores ~27 s a step): the target is the published 3.99e-3 in <= 3 min
# of training on one device.
timeout "${BUDGET_1E6:-580}" python3 -m zoo train allen-cahn-twobody --dim 1000000 \
  --out "$scratch/ac-1e6-best" --no-progress > "$out/logs/ac-1e6-best.log" 2>&1 &
wait
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv >> "$out/logs/device.txt"
(cd "$scratch" && find . \( -name '*.json' -o -name '*.jsonl' -o -name '*.png' -o -name '*.md' \) \
  -exec cp --parents {} "$OLDPWD/$out/" \; ) 2>/dev/null
(cd "$scratch" && find . \( -name '*.json' -o -name '*.jsonl' -o -name '*.png' -o -name '*.md' \) \
  | tar -cf - -T - | tar -xf - -C "$OLDPWD/$out") 2>/dev/null
ls -R "$out" | head -80
