#!/usr/bin/env bash
# What only a GPU can show (issue 22), in at most 8 minutes on one GPU, as one Markdown table:
#   1. ResNet-50 DANN on a synthetic Office-31-shaped batch (224 px, 32 + 32 images) at fp32, bf16 and
#      16-mixed, eager and compiled, channels-last: images/s of dasuite's trainer and of the plain-PyTorch
#      loop side by side (scripts/speed.py's interleaved timing), and peak GPU memory;
#   2. one single-GPU torchrun run (NCCL) of `dasuite train` on synthetic Office-31-shaped image folders;
#   3. the same run with trainer.deterministic=true.
# Usage: scripts/gpu_check.sh            on a machine with a CUDA GPU (paste the table into BENCHMARKS.md)
#        scripts/gpu_check.sh --dry-run  the same plan on the CPU with tiny sizes, in seconds (tests/test_gpu_check.py)
set -uo pipefail
cd "$(dirname "$0")/.."

dry=()
if [[ "${1:-}" == "--dry-run" ]]; then
  dry=(--dry-run)
  export CUDA_VISIBLE_DEVICES=""
  export OMP_NUM_THREADS=1
  size=32 steps=2 batch=2 budget=0  # compiled rows: their skip path (compiling ResNet-50 on a CPU takes minutes)
  net=resnet18                      # the train runs' plan on a smaller network: the same code path, seconds sooner
elif [[ $# -gt 0 ]]; then
  echo "gpu_check.sh: unknown argument '$1'; the only option is --dry-run." >&2
  exit 2
else
  python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" || {
    echo "gpu_check.sh: no CUDA GPU visible; run it on a GPU machine, or pass --dry-run." >&2; exit 1; }
  size=224 steps=100 batch=32 budget=300 net=resnet50
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s)

echo "gpu_check: timing rows" >&2
python scripts/gpu_check.py timing "$work/timing.json" --budget-s "$budget" "${dry[@]}" || exit 1
python scripts/gpu_check.py folders "$work/images" "${dry[@]}" || exit 1

train=(dataset=folder "dataset.source_dir=$work/images/source" "dataset.target_dir=$work/images/target"
       "dataset.image_size=$size" dataset.workers=0 "backbone=$net" backbone.pretrained=false method=dann
       trainer.epochs=1 "trainer.steps_per_epoch=$steps" "trainer.batch_size=$batch" trainer.progress=false
       trainer.plots=false)
echo "gpu_check: torchrun, one process" >&2
torchrun --standalone --nproc_per_node=1 -m dasuite train "${train[@]}" "hydra.run.dir=$work/ddp" >"$work/ddp.log" 2>&1 \
  || tail -n 5 "$work/ddp.log" >&2
echo "gpu_check: deterministic mode" >&2
python -m dasuite train "${train[@]}" trainer.deterministic=true "hydra.run.dir=$work/det" >"$work/det.log" 2>&1 \
  || tail -n 5 "$work/det.log" >&2

python scripts/gpu_check.py table "$work" || exit 1
echo "gpu_check: $(($(date +%s) - started)) s in all" >&2
