#!/usr/bin/env bash
# The stored-views benchmark (issue: KD with augmentation from stored teacher outputs): the demo's
# teacher and student on 18,000 training images, 3 seeds each, same epochs for every row:
#   1. plain images: student alone on labels, and KD from stored logits (runs/views/plain);
#   2. augmented: student alone on labels with fresh augmentation each epoch, and KD from 4 stored
#      views per image, one view per example per epoch (runs/views/augmented).
# Prints both tables; each run writes reports/methods.md and methods.json under its run directory.
# Students already trained with the same settings are reused. Extra arguments go to both compares.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin/distill compare --config bench/views-pipeline.conf --plan bench/views-plain.conf --set run-dir=runs/views/plain "$@"
bin/distill compare --config bench/views-pipeline.conf --plan bench/views-augmented.conf --set run-dir=runs/views/augmented \
  --set precompute.views=4 "$@"
