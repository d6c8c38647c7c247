#!/usr/bin/env bash
# Top-k logits against dense float32 (issue: top-k logits): the demo's teacher and student on 18,000
# training images (bench/views-pipeline.conf), KD over 3 seeds from logits stored as float32, topk:5,
# topk:3 and topk:1 (KD is zero at k = 1: the row shows what CE alone reaches), one run directory
# each under runs/topk/. Prints each compare's table, then one summary table (bytes of the logits
# column against float32, accuracy change) that also goes to runs/topk/summary.md. Extra arguments
# go to every compare.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
encodings=(float32 topk:5 topk:3 topk:1)
for encoding in "${encodings[@]}"; do
  bin/distill compare --config bench/views-pipeline.conf --plan bench/topk.conf --set "run-dir=runs/topk/${encoding/:/}" \
    --set "precompute.logits-encoding=\"$encoding\"" "$@"
done
python3 - "${encodings[@]}" <<'PY' | tee runs/topk/summary.md
import json, statistics, sys
classes = 10
rows = []
for encoding in sys.argv[1:]:
    report = json.load(open(f"runs/topk/{encoding.replace(':', '')}/reports/methods.json"))
    kd = next(r for r in report["rows"] if r.get("id") == "kd")
    stored = kd["seeds"][0]["teacher_bytes"]
    raw = 4 * classes if encoding == "float32" else 8 * int(encoding.split(":")[1])
    rows.append((encoding, raw, stored, kd["test_accuracy_mean"] * 100, kd["test_accuracy_std"] * 100, len(kd["seeds"])))
dense = rows[0]
print("## Top-k logits against dense float32: ResNet teacher to cnn4, KD (T = 4, 0.3 CE + 0.7 KD)\n")
print("| logits encoding | bytes per row | ÷ float32 | logits column in Parquet (bytes) | ÷ float32 | test accuracy (%) | Δ vs float32 (points) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for encoding, raw, stored, mean, std, seeds in rows:
    print(f"| {encoding} | {raw} | {raw / dense[1]:.2f} | {stored:,} | {stored / dense[2]:.2f} | {mean:.2f} ± {std:.2f} | {mean - dense[3]:+.2f} |")
print(f"\nMean ± sample standard deviation over {rows[0][5]} seeds; bytes per row before compression, Parquet bytes as "
      "stored (compressed, the training split's rows). At k = 1 the KD term is zero (softmax over one class).")
PY
