#!/usr/bin/env bash
# How the shipped default model was trained: both families of the default recipe at the same
# time budget, side by side on one GPU, with two controls (the Transformer without the
# infilling objective, and without transposition), plus a short torch.compile check.
#
#   bash benchmarks/train_default_gpu.sh OUT_DIR [MINUTES]
#
# Each run's model folder (without checkpoints) is packed as OUT_DIR/<name>.tar.gz, and the
# log of every run is OUT_DIR/<name>.log. Pick the default with `melody eval` on each (lower
# held-out bits per note wins) and unpack it into models/default.
set -uo pipefail
out=${1:?give an output folder}
minutes=${2:-6}
mkdir -p "$out" runs
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
python3 -m melody tokenize assets/irish.abc >/dev/null  # fill the token cache once, before four runs want it

run() {  # name config [--set ...]
  local name=$1 config=$2; shift 2
  python3 -m melody train assets/irish.abc --config "$config" --out "runs/$name" --force \
    --set training.max_minutes="$minutes" "$@" >"$out/$name.log" 2>&1
  echo "$name: exit $?" >>"$out/$name.log"
}
run transformer assets/configs/default-transformer.toml &
run lstm assets/configs/default-lstm.toml &
run transformer-noinfill assets/configs/default-transformer.toml --set training.infill_rate=0 &
run transformer-notranspose assets/configs/default-transformer.toml --set training.augment_transpose=0 &
python3 -m melody train assets/irish.abc --config assets/configs/tiny.toml --model transformer --out runs/compile --force --compile \
  --set training.max_steps=40 --set training.eval_every=20 --set training.max_minutes=0 >"$out/compile.log" 2>&1 &
wait
for name in transformer lstm transformer-noinfill transformer-notranspose; do
  [ -d "runs/$name" ] && tar -czf "$out/$name.tar.gz" --exclude=checkpoints -C runs "$name"
done
tail -n 3 "$out"/*.log
ls -la "$out"
