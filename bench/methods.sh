#!/usr/bin/env bash
# The methods benchmark: teacher, student alone, KD, FitNets, AT, RTK, KDFM (shared classifier, and
# with the adversary) and InDistill on Fashion-MNIST with the demo's shipped teacher and student,
# each over 3 seeds; prints the table and writes runs/methods/reports/methods.md and methods.json.
# Students already trained with the same settings are reused, so a second run only evaluates.
# Extra arguments go to `distill compare`, e.g. --set run-dir=/tmp/methods
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec bin/distill compare --config bench/methods-pipeline.conf --plan bench/methods.conf "$@"
