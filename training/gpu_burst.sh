#!/usr/bin/env bash
# One short training burst of the `small` lifters on a lent GPU machine (issue 23), then resume on the CPU.
#
# A lent machine gets the working tree and up to 64 MiB of carried files, not ../shared, and gives back at
# most 8 files of 16 MiB. So, here, once (about 10 s; 17 MB; the mocap as training reads it):
#   .venv/bin/python -m video_mocap.training train training/configs/dtgcn_small.yaml \
#       --prepare-data .cache/prepared/small.npz
# then one device call, carrying that folder (and the run folders of an earlier burst, to resume them):
#   run(command="bash training/gpu_burst.sh 8", carry=[".cache/prepared"], timeout_s=600)
# It trains each model of MODELS at once on the one GPU, in bf16, for MINUTES (default 8: with the
# start-up and the packing the call stays under 10 minutes), checkpointing as the configs say, and
# writes to $OUT each model's log and its run folder as a tar in 15 MiB parts. Back here:
#   cat /work/.device/.../dtgcn_small.tar.part-* | tar -x -C /work/tmp/23/runs
#   nice -n 19 .venv/bin/python -m video_mocap.training train training/configs/dtgcn_small.yaml \
#       --out /work/tmp/23/runs/dtgcn_small --resume --minutes N      (on the CPU, fp32)
# Try it on the CPU first (PYTHON=.venv/bin/python OUT=/tmp/burst bash training/gpu_burst.sh 1).
#
# usage: bash training/gpu_burst.sh [MINUTES] [MODELS...]      (MODELS default: dtgcn posemoe)
set -euo pipefail

minutes="${1:-8}"
shift || true
models="${*:-dtgcn posemoe}"
out="${OUT:?set OUT to the folder the results go to}"
python="${PYTHON:-python3}"
pack=".cache/prepared/small.npz"
runs="${RUNS:-/tmp/gpu_burst}"
threads="${THREADS:-4}"
part_size="15m"

if [ ! -f "$pack" ]; then
    echo "gpu_burst: $pack not found: make it where the mocap is (see the top of this script) and carry .cache/prepared" >&2
    exit 2
fi
# the repository root is the package video_mocap: put it on the path under that name
site="$(mktemp -d)"
ln -s "$PWD" "$site/video_mocap"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out" "$runs"
"$python" -c "import torch; print('torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'no GPU: CPU trial')"

pids=()
for model in $models; do
    run="$runs/${model}_small"
    resume=()
    if [ -f "$run/state.json" ]; then resume=(--resume); fi
    "$python" -m video_mocap.training train "training/configs/${model}_small.yaml" --out "$run" --prepared "$pack" \
        --precision bf16 --minutes "$minutes" --threads "$threads" --quiet "${resume[@]}" >"$out/${model}_small.log" 2>&1 &
    pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

for model in $models; do
    if [ -d "$runs/${model}_small" ]; then
        tar -C "$runs" --exclude tb -cf - "${model}_small" | split -b "$part_size" - "$out/${model}_small.tar.part-"
    fi
done
ls -l "$out"
exit "$status"
