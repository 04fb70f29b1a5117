#!/usr/bin/env bash
# The GPU measurements as one command of under 10 minutes, run from the repository root
# of a checkout on a machine with a CUDA GPU:
#
#   OUT=results-folder bash bench/gpu_check.sh
#
# 1. bench/speed_gpu.py: the five models' steps/s in fp32, bf16 and compiled (Inductor),
#    under a hard time limit;
# 2. ClusterGAN recipe trials on the validation split (bench/trials.py), several side by
#    side on the one GPU: a trial's validation curve per step does not depend on the
#    device, so the GPU measures in minutes how many steps a recipe needs, which a
#    2-core CPU cannot (issue #16); their minutes are the GPU's, shared, and are not
#    compared with CPU minutes.
#
# What it reads beside the working tree, in folders git ignores: .devdata/mnist (the
# MNIST IDX files), .devdata/cache (GAN_CACHE: the evaluation classifiers, so that none
# is retrained there) and, where the machine has no package index, .whl (wheels of the
# packages its Python lacks: pydantic, pydantic_core, annotated-types,
# typing-inspection, tomli_w, typing_extensions).
set -u
OUT=${OUT:-/tmp/gpu-check}
SPEED_SECONDS=${SPEED_SECONDS:-250}
TRIAL_MINUTES=${TRIAL_MINUTES:-4}
DEVICE=${DEVICE:-cuda}     # DEVICE=cpu SPEED_ARGS=--smoke TRIAL_MINUTES=0.2: the script's own check
SPEED_ARGS=${SPEED_ARGS:-}
mkdir -p "$OUT"
if [ -d .whl ] && [ "$DEVICE" = cuda ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 2
fi
# the repository root is the package `gan`: make it importable under that name
mkdir -p /tmp/pkg && ln -sfn "$PWD" /tmp/pkg/gan
export PYTHONPATH=/tmp/pkg:/tmp/site PYTHONUNBUFFERED=1
[ -d .devdata/cache ] && export GAN_CACHE=$PWD/.devdata/cache
DATA=$PWD/.devdata/mnist
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, gan; print('torch', torch.__version__, torch.cuda.is_available())" || exit 2
mkdir -p /tmp/trials/logs

echo "== speed $(date -u +%T)"
timeout "$SPEED_SECONDS" python3 bench/speed_gpu.py --data-root "$DATA" --out "$OUT" \
  --device "$DEVICE" --compile-budget $((SPEED_SECONDS - 110)) $SPEED_ARGS > "$OUT/speed.log" 2>&1
echo "speed rc=$? $(date -u +%T)"; tail -3 "$OUT/speed.log" | cut -c1-400

echo "== ClusterGAN trials $(date -u +%T)"
trial() {  # name, then overrides separated by ';'
  OMP_NUM_THREADS=4 python3 bench/trials.py --name clustergan_gpu --spec specs/clustergan.toml \
    --metric kmeans/purity --data "$DATA" --runs /tmp/trials --out "$OUT" \
    --set "train.device=$DEVICE" --set "train.max_minutes=$TRIAL_MINUTES" --set train.steps=100000 \
    --set eval.every=500 --set eval.best=kmeans/purity --set train.checkpoint_every=100000 \
    --set train.sample_every=100000 --trial "$1" > "/tmp/trials/logs/${1%%:*}.log" 2>&1
}
opt() { echo "phases.critic.optimizer={type = \"adam\", lr = $1, betas = [0.5, 0.9]};phases.generator.optimizer={type = \"adam\", lr = $1, betas = [0.5, 0.9]}"; }
# the two waves of trials recorded on 2026-11-26 (WAVES="1 2" runs both, ~8 min)
for wave in ${WAVES:-1}; do
  if [ "$wave" = 1 ]; then
    trial "paper" &
    trial "critic2_lr2e-4:phases.critic.repeat=2;$(opt 2e-4)" &
    trial "critic1_lr2e-4:phases.critic.repeat=1;$(opt 2e-4)" &
    trial "paper_lr3e-4:$(opt 3e-4)" &
  else
    trial "paper_lr5e-4:$(opt 5e-4)" &
    trial "paper_lr1e-3:$(opt 1e-3)" &
    trial "critic2_lr5e-4:phases.critic.repeat=2;$(opt 5e-4)" &
    trial "critic2_lr1e-3:phases.critic.repeat=2;$(opt 1e-3)" &
  fi
  wait
done
echo "trials done $(date -u +%T)"
for f in /tmp/trials/logs/*.log; do echo "$f"; tail -n 2 "$f" | cut -c1-300; done
# the run folders' curves and logs as one file (checkpoints left out)
tar -czf "$OUT/trial_runs.tar.gz" --exclude='*.safetensors' -C /tmp trials
ls -la "$OUT"
