#!/usr/bin/env bash
# What runs on this machine's NVIDIA GPU, in one short pass (about 10 minutes; meant for a borrowed
# GPU machine with little time on it). Prints one table and writes it to bench/results/gpu-<date>.md.
#
#   1. ONNX Runtime's GPU build (mvn -Ponnxruntime-gpu): the demo teacher's precompute with
#      precompute.engine = onnxruntime on the CPU and with precompute.device = cuda, same data.
#   2. ND4J's CUDA 11.6 backend (mvn -Pcuda): one teacher forward pass (precompute, engine dl4j) and
#      one student epoch (distill), expected to fail on GPUs newer than CUDA 11.6 knows (Hopper, sm_90).
#
# Each build is made in its own copy of the working tree under the work directory, so this checkout's
# CPU build is left alone. Arguments are --set overrides, e.g. bench/gpu.sh data.limit=5000
# Environment: WORK (default: a new temporary directory), LIMIT (images per Fashion-MNIST file, default 20000).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${WORK:-$(mktemp -d -t distillery-gpu-XXXXXX)}"
limit="${LIMIT:-20000}"
conf="$root/jobs/src/main/resources/demo/fashion-mnist.conf"
sets=(--set "data.limit=$limit" --set "distill.train.epochs=1")
for s in "$@"; do sets+=(--set "$s"); done
results=()

command -v nvidia-smi >/dev/null || { echo "gpu.sh: no nvidia-smi on this machine; nothing to measure" >&2; exit 2; }
gpu=$(nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader | head -1)
cuda=$(nvidia-smi | sed -n 's/.*CUDA Version: \([0-9.]*\).*/\1/p' | head -1)
echo "gpu.sh: $gpu, driver CUDA $cuda; work directory $work" >&2

# A copy of the working tree (tracked and untracked files, no build outputs) built with a profile.
build() {
  local name=$1 profile=$2 dir="$work/$1"
  mkdir -p "$dir"
  (cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dir")
  echo "gpu.sh: building $name (mvn -P$profile package)..." >&2
  (cd "$dir" && mvn -B -q -P"$profile" -DskipTests package) >"$work/$name-build.log" 2>&1 || { echo "build failed: $work/$name-build.log"; return 1; }
  echo "$dir"
}

# Runs one stage and prints "ok <seconds>" or "failed: <first error line>".
stage() {
  local dir=$1 log=$2; shift 2
  local start=$SECONDS
  if (cd "$dir" && DISTILLERY_HEAP=16g bin/distill "$@" --config "$conf" "${sets[@]}" --set "run-dir=$work/run-$(basename "$dir")") >"$log" 2>&1; then
    echo "ok $((SECONDS - start))"
  else
    echo "failed: $(grep -m1 -E 'error:|Exception|CUDA|cuda' "$log" | cut -c1-200)"
  fi
}

# "N S": rows and seconds from precompute's own line ("precompute: wrote N rows (...) to ... in S s").
rate() { sed -n 's/.*precompute: wrote \([0-9]*\) rows .* in \([0-9.]*\) s$/\1 \2/p' "$1" | head -1; }

# 1. ONNX Runtime GPU.
if ort=$(build ort onnxruntime-gpu); then
  stage "$ort" "$work/ort-prep.log" prep >/dev/null
  stage "$ort" "$work/ort-teacher.log" teacher >/dev/null
  for device in cpu cuda; do
    r=$(stage "$ort" "$work/ort-$device.log" precompute --force --set precompute.engine=onnxruntime --set "precompute.device=$device")
    if [[ $r == ok* ]]; then
      read -r n s <<<"$(rate "$work/ort-$device.log")"
      results+=("| precompute, ONNX Runtime, device $device | ok | ${n:-?} rows in ${s:-?} s: $(awk -v n="${n:-0}" -v s="${s:-0}" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "?" }') images/s (inference, encoding, Parquet write, verification) |")
    else
      results+=("| precompute, ONNX Runtime, device $device | $r | |")
    fi
  done
else
  results+=("| ONNX Runtime GPU build | $ort | |")
fi

# 2. ND4J CUDA backend.
if nd4j=$(build cuda cuda); then
  stage "$nd4j" "$work/cuda-prep.log" prep >/dev/null
  stage "$nd4j" "$work/cuda-teacher.log" teacher >/dev/null
  results+=("| ND4J CUDA 11.6: teacher forward (precompute, engine dl4j) | $(stage "$nd4j" "$work/cuda-precompute.log" precompute) | $work/cuda-precompute.log |")
  results+=("| ND4J CUDA 11.6: one student epoch (distill) | $(stage "$nd4j" "$work/cuda-distill.log" distill) | $work/cuda-distill.log |")
else
  results+=("| ND4J CUDA 11.6 build | $nd4j | |")
fi

out="$root/bench/results/gpu-$(date +%Y-%m-%d).md"
{
  echo "GPU: $gpu (driver's CUDA $cuda). Fashion-MNIST, data.limit $limit. $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| what | result | detail |"
  echo "|---|---|---|"
  printf '%s\n' "${results[@]}"
} | tee "$out"
echo "gpu.sh: logs in $work; table written to $out" >&2
