#!/usr/bin/env bash
# Distillery against PyTorch on this machine, in one run, on the same architectures (the demo's
# ResNet teacher and cnn4 student; bench/peer/models.py asserts the parameter counts), the same
# Fashion-MNIST images, batch size, optimizer, KD loss and thread count. Prints one table (student
# epoch on labels, offline-KD epoch, PyTorch's online-KD epoch, teacher forward and precompute
# images/s, the goal ratios) and writes it to bench/results/peer-<date>.{md,json}.
#
#   bench/peer.sh                      the full demo data (53,987 training images)
#   bench/peer.sh --limit 5000         the first 5,000 images of each file: a quick run
#   bench/peer.sh --no-plain           skip the single-JVM phase (DL4J output(), ONNX Runtime, fit)
#   bench/peer.sh ... key=value        further overrides of the demo config for Distillery
#
# Environment: LIMIT (as --limit), PEER_PYTHON (default /usr/bin/python3, where Debian's
# python3-torch lives), DISTILLERY_HEAP / DISTILLERY_OFFHEAP as for bin/distill. Installs Debian's
# python3-torch (PyTorch 1.13) with apt-get when that Python cannot import torch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
limit="${LIMIT:-0}"
plain=1
overrides=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit) limit="$2"; shift 2 ;;
    --limit=*) limit="${1#--limit=}"; shift ;;
    --no-plain) plain=0; shift ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "peer.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ "$limit" =~ ^[0-9]+$ ]] || { echo "peer.sh: --limit wants a number, got $limit" >&2; exit 2; }

py="${PEER_PYTHON:-/usr/bin/python3}"
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "peer.sh: $py cannot import torch; installing Debian's python3-torch" >&2
  sudo=""; [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
  $sudo apt-get install -y python3-torch >&2
fi

# Other processes on the cores distort both sides, PyTorch's most: its OpenMP threads spin at
# barriers, and on an oversubscribed machine 2 threads ran 4.5x slower than 1 here. Say so.
export PEER_LOAD_START="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$PEER_LOAD_START" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  echo "peer.sh: WARNING: load average $PEER_LOAD_START on $(nproc) cores; the numbers will not be clean" >&2
fi
work="$(mktemp -d -t distillery-peer-XXXXXX)"
echo "peer.sh: work files and logs in $work" >&2
export DISTILLERY_MAIN=io.distillery.jobs.bench.DistillBenchmark
run_jvm() { # phase, OpenMP threads
  echo "peer.sh: Distillery, $1 phase ($(date +%T))..." >&2
  if ! OMP_NUM_THREADS="$2" "$root/bin/distill" "$1" "$work" "data.limit=$limit" ${overrides[@]+"${overrides[@]}"} \
      >"$work/distillery-$1.log" 2>&1; then
    tail -40 "$work/distillery-$1.log" >&2
    echo "peer.sh: Distillery's $1 phase failed; log: $work/distillery-$1.log" >&2
    exit 1
  fi
}
run_jvm spark 1
if [[ $plain -eq 1 ]]; then
  run_jvm plain "$(nproc)"
fi
rm -rf "$work/run"

json() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/spark-results.json" "$1"; }
echo "peer.sh: PyTorch ($(date +%T))..." >&2
"$py" "$root/bench/peer/torch_bench.py" --images "$(json train_rows)" --threads "$(json workers)" \
  --out "$work/torch-results.json" >&2
"$py" "$root/bench/peer/table.py" "$work" "$root/bench/results" "$limit"
