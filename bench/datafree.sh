#!/usr/bin/env bash
# The data-free rows (CDFKD-MFS: the card's game, with a class-conditional generator, and with the
# attention step) over 2 seeds: reports/methods.md and methods.json under runs/datafree/. Extra
# arguments are --set overrides, e.g. bench/datafree.sh --set run-dir=/tmp/datafree
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin/distill compare --config bench/datafree-pipeline.conf --plan bench/datafree.conf "$@"
