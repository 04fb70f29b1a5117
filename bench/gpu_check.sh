#!/usr/bin/env bash
# The GPU measurements as ONE command of at most 9 minutes, run from the repository root
# of a checkout on a machine with a CUDA GPU:
#
#   bash bench/gpu_check.sh            # writes into $OUT
#
# bench/campaign.py: every model's official recipe × $SEEDS seeds, each model one run of
# `gan run --seeds` (vectorised where vmap runs the model, whole-step CUDA graphs where the
# step can be captured; the console lines saying which are kept in the records), for
# $MINUTES minutes of wall clock in all, under a hard `timeout`. Records go out as each
# model finishes: per-seed test figures of the validation-selected checkpoints appended to
# $OUT/quality.json, aggregate steps/s to $OUT/speed_gpu.json (campaign); the learning
# curves (metrics.jsonl, run.json, sample grids) come back as one tar.
#
# ClusterGAN's official recipe against its twin (#29's last row: 3 seeds each, 3,000
# generator steps), the twin's seeds as processes beside the engine's vectorised run:
#
#   MODELS="ClusterGAN ClusterGAN-twin" SEEDS=3 bash bench/gpu_check.sh
#
# Checked on the CPU beforehand: DEVICE=cpu SMOKE=1 bash bench/gpu_check.sh (digits, 2
# seeds, 2 steps) and tests/tools/test_campaign.py.
#
# What it needs beside the working tree (ignored folders copied there):
# .devdata/mnist (the MNIST IDX files), .devdata/cache (GAN_CACHE: the eval classifiers,
# so that none is retrained there) and .whl (wheels of the packages the machine's image
# lacks: pydantic, pydantic_core, annotated-types, typing-inspection, tomli_w,
# typing_extensions).
set -u
OUT=${OUT:-/tmp/gpu-check}
MINUTES=${MINUTES:-7}          # the campaign's budget; the hard limit below adds the margin
SEEDS=${SEEDS:-4}
DEVICE=${DEVICE:-cuda}
MODELS=${MODELS:-}             # quality.py keys; empty: campaign.py's official recipes
SMOKE=${SMOKE:-}
LIMIT=${LIMIT:-$((9 * 60 - 20))}  # seconds: the whole call stays under 9 minutes
START=$(date +%s)
mkdir -p "$OUT"
if [ -d .whl ] && [ "$DEVICE" = cuda ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 2
fi
# the repository root is the package `gan`: make it importable under that name
mkdir -p /tmp/pkg && ln -sfn "$PWD" /tmp/pkg/gan
export PYTHONPATH=/tmp/pkg:/tmp/site:${PYTHONPATH:-} PYTHONUNBUFFERED=1
[ -d .devdata/cache ] && export GAN_CACHE=$PWD/.devdata/cache
DATA=${DATA:-$PWD/.devdata/mnist}
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, gan; print('torch', torch.__version__, torch.cuda.is_available())" || exit 2
# the quality store starts from the repository's, so the records append to it
for f in quality.json speed_gpu.json; do
  [ -f "$OUT/$f" ] || cp "bench/results/$f" "$OUT/$f" 2>/dev/null || true
done
RUNS=/tmp/campaign-runs
rm -rf "$RUNS"
ARGS=(--minutes "$MINUTES" --seeds "$SEEDS" --device "$DEVICE" --data "$DATA" --out "$OUT" --runs "$RUNS")
[ -n "$MODELS" ] && ARGS+=(--models $MODELS)
[ -n "$SMOKE" ] && ARGS+=(--smoke)
LEFT=$((LIMIT - ($(date +%s) - START) - 25))  # what the tar below needs
echo "== campaign ${MINUTES} min, ${SEEDS} seeds, hard limit ${LEFT}s $(date -u +%T)"
timeout --kill-after=10 "$LEFT" python3 bench/campaign.py "${ARGS[@]}" > "$OUT/campaign.log" 2>&1
echo "campaign rc=$? $(date -u +%T)"
grep -E '^(==|\{)' "$OUT/campaign.log" | cut -c1-400
tail -n 3 "$OUT/campaign.log" | cut -c1-400
# the curves: one file back
tar -czf "$OUT/campaign_runs.tar.gz" --exclude='*.safetensors' -C /tmp campaign-runs 2>/dev/null
ls -la "$OUT"
