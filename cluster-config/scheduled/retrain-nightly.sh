#!/usr/bin/env bash
# Scheduled retraining: runs `distill pipeline` through cluster-config/submit.sh into a run
# directory named after the date (RUN_ROOT/YYYY-MM-DD), then keeps only the newest KEEP_RUNS dated
# runs. Started by cron (distillery-retrain.cron) or systemd (distillery-retrain.timer).
#
# A retry on the same day reuses that day's directory: stages whose output exists with matching
# provenance are skipped, and --resume continues an interrupted training stage from its last
# checkpoint instead of starting it over. A new day starts a fresh directory, so new data is
# prepared and every model retrained.
#
# Settings come from the environment, or from the file named by DISTILLERY_RETRAIN_ENV (bash
# syntax, see retrain.env.example), whose variables are exported:
#   CLUSTER          local | standalone | yarn | k8s (default: local)
#   PIPELINE_CONFIG  the pipeline file (required); its run-dir is replaced by the dated one
#   RUN_ROOT         where the dated runs go: a local path or a Hadoop URI (hdfs://, s3a://) (required)
#   KEEP_RUNS        dated runs to keep, today's included (default: 7)
#   RUN_DATE         the run's name (default: today, YYYY-MM-DD); set it to redo or backfill a day
#   LOCK_FILE        held while running, so runs never overlap (default: /tmp/distillery-retrain.lock)
# plus whatever submit.sh needs (SPARK_HOME, JAVA_HOME, HADOOP_CONF_DIR, SPARK_MASTER_URL, K8S_*).
set -euo pipefail

if [[ -n ${DISTILLERY_RETRAIN_ENV:-} ]]; then
  set -a
  # shellcheck source=/dev/null
  . "$DISTILLERY_RETRAIN_ENV"
  set +a
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
submit="$here/../submit.sh"
cluster=${CLUSTER:-local}
config=${PIPELINE_CONFIG:?set PIPELINE_CONFIG to the pipeline file to retrain}
run_root=${RUN_ROOT:?set RUN_ROOT to the directory that holds the dated runs}
run_root=${run_root%/}
keep=${KEEP_RUNS:-7}
[[ $keep =~ ^[1-9][0-9]*$ ]] || { echo "retrain: KEEP_RUNS must be a positive integer, got '$keep'" >&2; exit 2; }
date_name=${RUN_DATE:-$(date +%Y-%m-%d)}
run_dir="$run_root/$date_name"

log() { echo "retrain $(date '+%F %T'): $*" >&2; }

# Run directories live on the local disk or behind Hadoop's FileSystem API (hdfs dfs works for any
# scheme the cluster's Hadoop configuration knows).
remote() { [[ $run_root == *://* && $run_root != file://* ]]; }
hdfs_cli() { "${HADOOP_HOME:+$HADOOP_HOME/bin/}hdfs" dfs "$@"; }
exists() { if remote; then hdfs_cli -test -e "$1"; else [[ -e ${1#file://} ]]; fi; }
list_runs() {
  if remote; then
    hdfs_cli -ls -C "$run_root" 2>/dev/null | sed 's:.*/::' || true
  else
    ls -1 "${run_root#file://}" 2>/dev/null || true
  fi
}
remove() { if remote; then hdfs_cli -rm -r -f "$1"; else rm -rf -- "${1#file://}"; fi; }

if remote; then
  hdfs_bin="${HADOOP_HOME:+$HADOOP_HOME/bin/}hdfs"
  command -v "$hdfs_bin" >/dev/null || { echo "retrain: RUN_ROOT=$run_root needs the hdfs command (set HADOOP_HOME or PATH)" >&2; exit 2; }
elif [[ $cluster != local && $run_root != file://* ]]; then
  # The driver and executors must find the run where this script looks for its report.
  echo "retrain: on $cluster, RUN_ROOT must be a URI every node resolves alike (hdfs://..., s3a://..., file:// on a shared mount), got '$run_root'" >&2
  exit 2
fi

exec 9>"${LOCK_FILE:-/tmp/distillery-retrain.lock}"
if ! flock -n 9; then
  log "another retraining run holds ${LOCK_FILE:-/tmp/distillery-retrain.lock}; not starting a second one"
  exit 1
fi

if ! remote; then mkdir -p "${run_root#file://}"; fi
log "pipeline $config on $cluster into $run_dir"
# Not exec: pruning below must wait for the outcome. --resume is harmless on a fresh directory.
status=0
"$submit" "$cluster" pipeline --config "$config" --set "run-dir=\"$run_dir\"" --resume || status=$?
if [[ $status -ne 0 ]]; then
  log "pipeline failed (exit $status); keeping every earlier run. Run again to retry: finished stages are skipped"
  exit "$status"
fi

# Success also needs the report: spark-submit's exit status does not always carry the driver's in
# cluster deploy mode. Only after a success are old runs removed, so failures never cost a good run.
if ! exists "$run_dir/reports/report.json"; then
  log "no $run_dir/reports/report.json after the run; keeping every earlier run"
  exit 1
fi
log "done: $run_dir/reports/report.json"
if ! remote; then ln -sfn "$date_name" "${run_root#file://}/latest"; fi

mapfile -t runs < <(list_runs | grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' | sort)
for ((i = 0; i < ${#runs[@]} - keep; i++)); do
  [[ ${runs[i]} == "$date_name" ]] && continue
  log "removing old run $run_root/${runs[i]} (keeping $keep)"
  remove "$run_root/${runs[i]}"
done
