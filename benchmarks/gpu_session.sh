#!/usr/bin/env bash
# Everything to measure on a lent GPU, in one call of under 10 minutes (the device tool lends
# ~15 minutes in all): the GPU `sota` recipe over as many seeds as fit in its budget and their
# ensemble, short `sota` schedules for the time to 99.7%, and T@99 against the tuomaso peer.
#
# From the repository root on the GPU machine, with the four MNIST files in $MNISTLAB_DATA_DIR:
#   PY=python3 bash benchmarks/gpu_session.sh [pass1|pass2|pass3]
# pass1 (default): the recipe as first written. pass2: the second call of the same lease, after
# pass1 showed ~7 ms per step whatever the batch holds (launch-bound): batch 512.
# pass3 (a later lease, one call): each step replayed as a CUDA graph (train/graph.py); checked
# against eager steps first, and used for the rest only if they agree.
# PY is a Python whose torch has CUDA (mnistlab is taken from src/, not installed). Results go
# to $OUT when it is set (the device tool's folder), else benchmarks/results/gpu/. Each part has
# its own time limit, and a part that fails does not stop the others.
set -uo pipefail
out="${OUT:-benchmarks/results/gpu}"
py="${PY:-python3}"
work="${WORK:-/tmp/mnistlab-gpu}"
sota_budget="${SOTA_BUDGET_S:-240}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out" "$work"
log="$out/session.log"

part() {  # part NAME SECONDS COMMAND...: run with a limit, output to the log
  local name=$1 limit=$2
  shift 2
  echo "== $(date -u +%H:%M:%S) $name (limit ${limit} s): $*" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  last_rc=${PIPESTATUS[0]}
  echo "== $(date -u +%H:%M:%S) $name: exit $last_rc" | tee -a "$log"
}

part env 60 "$py" -c "import torch, mnistlab.system as s; print(s.header('cuda')); \
print('capability', torch.cuda.get_device_capability(), 'bf16', torch.cuda.is_bf16_supported())"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
  2>&1 | tee -a "$log"

if [ "${1:-pass1}" = pass1 ]; then
  # One epoch, thrown away: CUDA context, cuDNN's algorithm search and the first kernels' loading
  # land here rather than on the first timed seed.
  part warmup 90 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0 --epochs 1 \
    --work "$work/warmup" --train-only

  part sota-8-epochs 120 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0,1,2 \
    --epochs 8 --work "$work/e8" --json-out "$out/sota_e8.json"

  part sota 330 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0-9 \
    --budget-s "$sota_budget" --work "$work/full" --json-out "$out/sota_full.json"

  part sota-4-epochs 60 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0,1,2 \
    --epochs 4 --work "$work/e4" --json-out "$out/sota_e4.json"

  part speed 100 "$py" -m benchmarks.speed --device cuda --seeds 10 --peers tuomaso \
    --section speed_cuda
  cp benchmarks/results/speed_cuda.json "$out/" 2>/dev/null
elif [ "${1:-pass1}" = pass3 ]; then
  part graph-check 150 "$py" -m benchmarks.graph_step --device cuda --steps 200 --repeats 3 \
    --json-out "$out/graph_step.json"
  graph=--cuda-graph
  [ "$last_rc" = 0 ] || graph=""
  echo "== steps for the rest: ${graph:-eager (the graph check failed)}" | tee -a "$log"
  # shellcheck disable=SC2086  # $graph is a flag or nothing, in each command below

  part warmup 60 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0 --epochs 1 \
    $graph --work "$work/warmup" --train-only

  # the time to 99.7%: the 8-epoch schedule of pass 1 (99.70%), with the step replayed
  part sota-8-epochs 90 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0,1,2 \
    --epochs 8 $graph --work "$work/e8" --json-out "$out/sota_e8_graph.json"

  # a shorter schedule; gpu_report.py takes it for the time to 99.7% only if its validation
  # accuracy matches the 8-epoch one's (a rule fixed before the run; the test set decides nothing)
  part sota-6-epochs 80 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0,1,2 \
    --epochs 6 $graph --work "$work/e6" --json-out "$out/sota_e6_graph.json"

  part speed 100 "$py" -m benchmarks.speed --device cuda --seeds 10 --peers tuomaso $graph \
    --section speed_cuda_graph
  cp benchmarks/results/speed_cuda_graph.json "$out/" 2>/dev/null

  # ten seeds of the 30-epoch recipe in one process, so that all ten form one ensemble
  part sota 330 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0-9 $graph \
    --budget-s "${SOTA_BUDGET_S:-290}" --work "$work/full3" --json-out "$out/sota_full_graph.json"
else
  # Batch 512 at twice the peak lr, 8 epochs, 3 seeds; then the 10-seed run uses batch 512 only
  # if, on the validation split, it is within 0.02 points of batch 256's 8-epoch mean in pass 1
  # (99.62%) and faster than 9 s (pass 1: ~11.6 s). Nothing here reads the test set to choose.
  part warmup 90 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0 --epochs 1 \
    --batch-size 512 --lr 0.2 --work "$work/warmup-b512" --train-only

  part sota-8-epochs-b512 120 "$py" -m benchmarks.sota --recipe sota --device cuda \
    --seeds 0,1,2 --epochs 8 --batch-size 512 --lr 0.2 --work "$work/e8-b512" \
    --json-out "$out/sota_e8_b512.json"

  choice=$("$py" -c 'import json, statistics as st, sys; r = json.load(open(sys.argv[1]))
ok = st.fmean(r["val_acc"]) >= 0.9960 and st.fmean(r["train_seconds"]) < 9.0
print("--batch-size 512 --lr 0.2" if ok else "")' "$out/sota_e8_b512.json")
  echo "== chosen for the 10-seed run: '${choice:-the recipe as written (batch 256)}'" | tee -a "$log"
  # shellcheck disable=SC2086  # $choice is a list of flags
  part sota 330 "$py" -m benchmarks.sota --recipe sota --device cuda --seeds 0-9 $choice \
    --budget-s "${SOTA_BUDGET_S:-280}" --work "$work/full2" --json-out "$out/sota_full2.json"
fi

# every run's model.json and metrics.jsonl (the weights stay behind)
tar czf "$out/runs.tgz" -C "$work" --exclude='*.safetensors' --exclude='resume.pt' . \
  2>&1 | tee -a "$log"
echo "== $(date -u +%H:%M:%S) done" | tee -a "$log"
