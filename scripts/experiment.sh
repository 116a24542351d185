#!/usr/bin/env bash
# F-RAVE against C-RAVE (and plain RAVE if asked) on the nsynth-like set, end to end:
# build the data, preprocess, train every mode side by side for a fixed time, export,
# evaluate and summarise. Run after `bash scripts/run.sh setup`:
#   bash scripts/experiment.sh EXPERIMENT_DIR
# Settings come from the environment (defaults in brackets):
#   MINUTES [60]        training time of this session, per mode (all modes run at once)
#   ACCELERATOR [auto]  cpu or gpu; on a GPU Lightning uses bf16 mixed precision
#   MODES ["frave crave"], CONFIG [small], SIZE [small], RATE [44100]
#   PHASE1 [5000], STEPS [20000]: batches of phase 1, and in all (phase 2 is the GAN)
#   WORKERS [0]         data loader processes per run (4 or so on a GPU)
#   EVAL_WINDOWS [32]
# Every stage is resumable: run it again and the data is kept, the runs go on from their
# last checkpoints for another MINUTES, and the evaluation is redone.
set -euo pipefail
cd "$(dirname "$0")/.."
NEURORAVE="$PWD/.venv/bin/neurorave"
[ -x "$NEURORAVE" ] || { echo "experiment.sh: run 'bash scripts/run.sh setup' first" >&2; exit 2; }
[ $# -eq 1 ] || { echo "usage: bash scripts/experiment.sh EXPERIMENT_DIR" >&2; exit 2; }
DIR="$1"
MINUTES=${MINUTES:-60} ACCELERATOR=${ACCELERATOR:-auto} MODES=${MODES:-frave crave}
CONFIG=${CONFIG:-small} SIZE=${SIZE:-small} RATE=${RATE:-44100}
PHASE1=${PHASE1:-5000} STEPS=${STEPS:-20000} WORKERS=${WORKERS:-0}
EVAL_WINDOWS=${EVAL_WINDOWS:-32}
mkdir -p "$DIR"

if [ ! -f "$DIR/audio/.built" ]; then
  rm -rf "$DIR/audio"
  "$NEURORAVE" data build nsynth-like --size "$SIZE" --sample-rate "$RATE" -o "$DIR/audio"
  touch "$DIR/audio/.built"
fi
"$NEURORAVE" preprocess "$DIR/audio" -o "$DIR/windows" --config "$CONFIG"

# The settings of the default model's run (python/neurorave/models/README.md).
train_args=(--config "$CONFIG" --causal --steps "$STEPS" --phase1-steps "$PHASE1"
            --learning-rate 5e-4 --set latent_delay_steps=500 --set latent_ramp_steps=1000
            --set beta_warmup_steps=2000)
run_args=(--accelerator "$ACCELERATOR" --workers "$WORKERS" --max-minutes "$MINUTES"
          --checkpoint-every 500 --validate-every 1000 --no-progress)
# Modes share the CPU's cores evenly (on a GPU, its data loading and the optimiser steps).
modes=($MODES)
threads=$(( $(nproc) / ${#modes[@]} )); [ "$threads" -ge 1 ] || threads=1
pids=()
for mode in "${modes[@]}"; do
  run="$DIR/run_$mode"
  if [ -f "$run/train.json" ]; then
    command=("$NEURORAVE" train --resume "$run" "${run_args[@]}")
  else
    command=("$NEURORAVE" train "$DIR/windows" -o "$run" --mode "$mode" "${train_args[@]}"
             "${run_args[@]}")
  fi
  echo "== training $mode for $MINUTES minutes on $ACCELERATOR ($threads threads): $run/log.txt"
  mkdir -p "$run"
  OMP_NUM_THREADS=$threads "${command[@]}" >>"$run/log.txt" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "training ${modes[$i]} failed; see its log.txt" >&2; failed=1; }
done
[ "$failed" -eq 0 ] || exit 1

models=()
for mode in "${modes[@]}"; do
  "$NEURORAVE" export "$DIR/run_$mode" -o "$DIR/$mode.nrv"
  models+=("$DIR/$mode.nrv")
done
runs=("${modes[@]/#/$DIR/run_}")
"$NEURORAVE" summarize "${runs[@]}" -o "$DIR/training.md" --json "$DIR/training.json" \
  --plot "$DIR/training.png"
"$NEURORAVE" evaluate "${models[@]}" "$DIR/audio" -o "$DIR/evaluation" \
  --windows "$EVAL_WINDOWS" --renders 1
echo "== $DIR/training.md, $DIR/training.png and $DIR/evaluation/report.md"
