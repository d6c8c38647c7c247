#!/usr/bin/env bash
# Top-k logits against dense float32 (issue: top-k logits): the demo's teacher and student on 18,000
# training images (bench/views-pipeline.conf), KD over 3 seeds from logits stored as float32, topk:5,
# topk:3 and topk:1 (KD is zero at k = 1: the row shows what CE alone reaches), one run directory
# each under runs/topk/. Prints each table; bytes per row are in each table's "teacher-output bytes
# read" column and in the manifests. Extra arguments go to every compare.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
for encoding in float32 topk:5 topk:3 topk:1; do
  bin/distill compare --config bench/views-pipeline.conf --plan bench/topk.conf --set "run-dir=runs/topk/${encoding/:/}" \
    --set "precompute.logits-encoding=\"$encoding\"" "$@"
done
