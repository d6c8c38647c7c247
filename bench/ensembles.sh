#!/usr/bin/env bash
# The ensembles benchmark: each teacher, the ensemble, the student alone, KD from the best single
# teacher, KD from the ensemble, parallel and sequential FEED over 3 seeds (compare: reports/methods.md
# and methods.json under runs/ensembles/), then the ensemble precompute against single-teacher
# precomputes of the same teachers (reports/ensemble-precompute.md). Extra arguments are --set
# overrides for both, e.g. bench/ensembles.sh --set run-dir=/tmp/ensembles
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin/distill compare --config bench/ensembles-pipeline.conf --plan bench/ensembles.conf "$@"
sets=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--set" ]; then sets+=("$2"); shift 2; else shift; fi
done
DISTILLERY_MAIN=io.distillery.jobs.bench.EnsemblePrecomputeBenchmark bin/distill bench/ensembles-pipeline.conf "${sets[@]}"
