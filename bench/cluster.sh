#!/usr/bin/env bash
# Spark local mode against the 2-worker loopback standalone cluster (cluster-config/local-cluster.sh:
# two one-core executor JVMs on 127.0.0.1), on the same data in one run: prep, the shipped teacher
# imported, precompute, then the demo's student distilled by parameter averaging and by gradient sharing
# (train.mode). Prints precompute images/s, distill samples/s (epochs after the first, which pays
# for start-up) and each student's best validation accuracy; the table also goes to runs/cluster/summary.md.
#
# Environment: BENCH_CLUSTER_LIMIT (images per source file, default 10000), BENCH_CLUSTER_EPOCHS (default 3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/runs/cluster"
rm -rf "$out"
mkdir -p "$out"
limit="${BENCH_CLUSTER_LIMIT:-10000}"
epochs="${BENCH_CLUSTER_EPOCHS:-3}"
conf=jobs/src/main/resources/demo/fashion-mnist.conf
modes=(parameter-averaging gradient-sharing)

# Each command is its own Spark application (gradient sharing allows one such stage per application).
stages() { # where run-dir command...
  local where="$1" dir="$2"
  shift 2
  local settings=(--config "$conf" --set "run-dir=$dir" --set "data.limit=$limit" --set "distill.train.epochs=$epochs")
  "$@" prep "${settings[@]}" >"$out/$where-prep.log" 2>&1
  "$@" teacher "${settings[@]}" >"$out/$where-teacher.log" 2>&1
  "$@" precompute "${settings[@]}" >"$out/$where-precompute.log" 2>&1
  for mode in "${modes[@]}"; do
    "$@" distill "${settings[@]}" --set "student.name=$mode" --set "distill.train.mode=$mode" >"$out/$where-$mode.log" 2>&1
  done
}

echo "bench/cluster.sh: local mode (local[2]), $limit images per file, $epochs epochs" >&2
stages local "$out/local" bin/distill
echo "bench/cluster.sh: loopback standalone cluster (2 one-core executor JVMs)" >&2
export DISTILLERY_CLUSTER_DIR="$out/cluster-state"
trap 'cluster-config/local-cluster.sh stop >/dev/null 2>&1 || true' EXIT
cluster-config/local-cluster.sh start >"$out/cluster-start.log" 2>&1
stages cluster "$out/cluster" cluster-config/local-cluster.sh submit

python3 - "$out" "${modes[@]}" <<'PY' | tee "$out/summary.md"
import json, re, sys
out, modes = sys.argv[1], sys.argv[2:]
def precompute(where):
    m = re.search(r"precompute: wrote (\d+) rows .* in ([\d.]+) s", open(f"{out}/{where}-precompute.log").read())
    return int(m.group(1)) / float(m.group(2))
def distill(where, mode):
    epochs = [json.loads(l) for l in open(f"{out}/{where}/students/{mode}/metrics.jsonl")]
    later = epochs[1:] or epochs
    return (sum(e["examples"] for e in later) / sum(e["seconds"] for e in later),
            max(e["validation_accuracy"] for e in epochs), len(epochs))
rows = {w: (precompute(w), {m: distill(w, m) for m in modes}) for w in ("local", "cluster")}
print("## Local mode against the 2-worker loopback standalone cluster: ResNet teacher to cnn4\n")
print("| where | precompute images/s | distill samples/s, parameter averaging | distill samples/s, gradient sharing "
      "| best validation accuracy (PA / GS) |")
print("|---|---:|---:|---:|---:|")
for where, (pre, d) in rows.items():
    pa, gs = d["parameter-averaging"], d["gradient-sharing"]
    print(f"| {where} | {pre:,.0f} | {pa[0]:,.0f} | {gs[0]:,.0f} | {pa[1] * 100:.2f}% / {gs[1] * 100:.2f}% |")
lp, lpa, lgs = rows["local"][0], rows["local"][1]["parameter-averaging"][0], rows["local"][1]["gradient-sharing"][0]
cp, cpa, cgs = rows["cluster"][0], rows["cluster"][1]["parameter-averaging"][0], rows["cluster"][1]["gradient-sharing"][0]
print(f"\nCluster ÷ local: precompute {cp / lp:.2f}, parameter averaging {cpa / lpa:.2f}, gradient sharing {cgs / lgs:.2f}. "
      f"Gradient sharing ÷ parameter averaging: local {lgs / lpa:.2f}, cluster {cgs / cpa:.2f}. "
      f"Distill samples/s over epochs 2..{rows['local'][1]['parameter-averaging'][2]} (the first pays for start-up).")
PY
