#!/usr/bin/env bash
# Prints, side by side from one run, precompute images/s against plain output() images/s of the
# same teacher, and a Spark distill epoch against a single-JVM ComputationGraph.fit on the same
# batches. Arguments are --set overrides of the demo config, e.g.
#   bench/run.sh data.limit=20000 distill.train.averaging-frequency=25
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sets=()
for kv in "$@"; do sets+=("$kv"); done
DISTILLERY_MAIN=io.distillery.jobs.bench.DistillBenchmark exec "$root/bin/distill" "${sets[@]}"
