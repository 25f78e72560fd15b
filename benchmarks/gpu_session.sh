#!/usr/bin/env bash
# Everything to measure in one pass on a lent GPU (the device tool gives ~15 minutes in all):
# the code path check, T@99 against the peers, and the GPU sota recipe with its ensemble.
# Usage on the GPU machine, from the repository root, with the venv built there:
#   bash benchmarks/gpu_session.sh   (writes into $OUT when set, else benchmarks/results/)
set -euo pipefail
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
py=".venv/bin/python"
"$py" -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" | tee "$out/gpu.txt"
timeout 60 "$py" -m pytest -q tests/train/test_models.py tests/train/test_recipes.py -x \
  | tail -3 | tee -a "$out/gpu.txt"
timeout 240 "$py" benchmarks/speed.py --device cuda --seeds 10 --peer-seeds 1 \
  --peers tuomaso,examples | tee "$out/speed_cuda.md"
timeout 300 "$py" benchmarks/sota.py --recipe sota --device cuda --seeds 0,1,2 \
  --work "$out/sota-runs" | tee "$out/sota_cuda.md"
