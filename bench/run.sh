#!/usr/bin/env bash
# Prints, side by side from one run on this machine, precompute images/s against plain output()
# images/s of the same teacher, and one Spark distill epoch against a plain single-JVM
# ComputationGraph.fit over the same batches. Two JVMs: the Spark side runs as Distillery does (one
# OpenMP thread per task), the plain side gets every core. Arguments are overrides of the demo
# config, e.g.   bench/run.sh data.limit=20000 distill.train.averaging-frequency=25
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d -t distillery-bench-XXXXXX)"
export DISTILLERY_MAIN=io.distillery.jobs.bench.DistillBenchmark
OMP_NUM_THREADS=1 "$root/bin/distill" spark "$work" "$@"
OMP_NUM_THREADS="$(nproc)" "$root/bin/distill" plain "$work" "$@"
rm -rf "$work/run"
