#!/usr/bin/env bash
# A real Spark standalone cluster on this machine, from Distillery's own class path (no Spark
# download): one Master and two Workers, separate JVMs bound to 127.0.0.1, each Worker offering one
# core, so every executor is its own JVM and parameter averaging crosses process boundaries.
#
#   cluster-config/local-cluster.sh start              builds if needed, starts Master + 2 Workers, prints the master URL
#   cluster-config/local-cluster.sh submit ARGS...     a Distillery command through spark-submit, e.g. submit pipeline --config my.conf
#   cluster-config/local-cluster.sh status             the processes, the master URL and its web UI
#   cluster-config/local-cluster.sh stop               stops every process start and submit started, removes the state
#
# A standalone Worker launches executors with SPARK_HOME/jars/* as their class path, so `start`
# makes a SPARK_HOME under the state directory whose jars/ links every jar of the runtime class path
# and whose bin/spark-submit runs Spark's own launcher; `submit` hands that SPARK_HOME, the master URL
# and spark-defaults.local-cluster.conf to submit.sh (the standalone path every real cluster uses).
# The application jar is the thin jobs jar (Distillery's jobs classes): executors already have every
# dependency in jars/, so the 260 MB fat jar would only be copied into every executor's directory.
#
# Environment:
#   DISTILLERY_CLUSTER_DIR      state: SPARK_HOME, pids, logs, work dirs (default: <repo>/target/local-cluster)
#   DISTILLERY_CLUSTER_WORKERS  number of Workers (default 2), DISTILLERY_CLUSTER_WORKER_CORES (default 1),
#                               DISTILLERY_CLUSTER_WORKER_MEMORY (what each Worker offers executors, default 2g)
#   DISTILLERY_CLUSTER_MASTER_PORT, DISTILLERY_CLUSTER_UI_PORT  (default 0: any free port)
#   DISTILLERY_CLASSPATH        jars to put in SPARK_HOME/jars, ':'-separated (default: jobs/target/classpath.txt, built if stale)
#   DISTILLERY_JAR              the application jar (default: jobs/target/distillery-jobs-*.jar, the thin one)
#   DISTILLERY_SPARK_DEFAULTS   properties file for submit (default: spark-defaults.local-cluster.conf beside this script)
#   DISTILLERY_SUBMIT_ARGS      extra spark-submit options, as for submit.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
state="${DISTILLERY_CLUSTER_DIR:-$root/target/local-cluster}"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
marker="-Ddistillery.local-cluster=$state"

die() {
  echo "local-cluster.sh: error: $*" >&2
  exit 2
}
say() {
  echo "local-cluster.sh: $*" >&2
}

# A recorded pid still names the process we started: alive, and its command line carries our marker.
ours() {
  local pid=$1
  [[ -n $pid && -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}
pid_of() {
  cat "$state/pids/$1" 2>/dev/null || true
}
master_url() {
  sed -n 's/^MASTER_URL=//p' "$state/cluster.env" 2>/dev/null || true
}
running() {
  [[ -f $state/cluster.env ]] && ours "$(pid_of master)"
}
# Executor JVMs (CoarseGrainedExecutorBackend) whose parent is one of our Workers.
executor_pids() {
  local f wpid d
  for f in "$state"/pids/worker-*; do
    [[ -f $f ]] || continue
    wpid=$(cat "$f")
    ours "$wpid" || continue
    for d in /proc/[0-9]*; do
      # /proc/PID/stat: "pid (comm) state ppid ..."; the command name may hold spaces, so cut after ')'.
      [[ $(sed 's/.*) [A-Za-z] \([0-9]*\).*/\1/' "$d/stat" 2>/dev/null) == "$wpid" ]] || continue
      if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q CoarseGrainedExecutorBackend; then echo "${d#/proc/}"; fi
    done
  done
}

jvm_options() {
  grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/jvm-options" | sed 's/[[:space:]]*$//'
}

# The runtime class path: DISTILLERY_CLASSPATH, or the build's classpath.txt (rebuilt when the sources are newer).
classpath() {
  if [[ -n ${DISTILLERY_CLASSPATH:-} ]]; then
    echo "$DISTILLERY_CLASSPATH"
    return
  fi
  local cp_file="$root/jobs/target/classpath.txt" jar
  jar=$(ls "$root"/jobs/target/distillery-jobs-*.jar 2>/dev/null | grep -v -- '-spark.jar' | head -1 || true)
  if [[ ! -f $cp_file || -z $jar || -n $(find "$root/pom.xml" "$root"/{common,data-prep,jobs}/pom.xml \
      "$root"/{common,data-prep,jobs}/src/main -newer "$jar" -type f -print -quit 2>/dev/null) ]]; then
    command -v mvn >/dev/null || die "no jobs/target/classpath.txt and no mvn to build it: run 'mvn -DskipTests package' or set DISTILLERY_CLASSPATH"
    say "building Distillery (mvn -DskipTests package)..."
    (cd "$root" && mvn -B -q -DskipTests package) >&2
  fi
  cat "$cp_file"
}
app_jar() {
  if [[ -n ${DISTILLERY_JAR:-} ]]; then
    [[ -f $DISTILLERY_JAR ]] || die "DISTILLERY_JAR=$DISTILLERY_JAR does not exist"
    echo "$DISTILLERY_JAR"
    return
  fi
  local jar
  jar=$(ls "$root"/jobs/target/distillery-jobs-*.jar 2>/dev/null | grep -v -- '-spark.jar' | head -1 || true)
  [[ -n $jar ]] || die "no jobs/target/distillery-jobs-*.jar: run 'mvn -DskipTests package' or set DISTILLERY_JAR"
  echo "$jar"
}

# SPARK_HOME: jars/ links every jar of the class path; bin/spark-submit is Spark's launcher, as in a distribution.
make_spark_home() {
  local home=$1 entry name n=0
  mkdir -p "$home/jars" "$home/bin" "$home/conf"
  while IFS= read -r entry; do
    [[ -n $entry ]] || continue
    [[ -f $entry && $entry == *.jar ]] || die "class path entry $entry is not a jar file; SPARK_HOME/jars can hold jars only"
    name=$(basename "$entry")
    [[ -e $home/jars/$name ]] && name="$((n++))-$name"
    ln -s "$(cd "$(dirname "$entry")" && pwd)/$(basename "$entry")" "$home/jars/$name"
  done < <(tr ':' '\n' <<<"$2")
  compgen -G "$home/jars/spark-core_2.12-3.5.*.jar" >/dev/null || die "the class path has no spark-core_2.12-3.5.*.jar"
  cat >"$home/bin/spark-submit" <<'EOF'
#!/usr/bin/env bash
# Written by cluster-config/local-cluster.sh: what Spark's bin/spark-submit does, for a SPARK_HOME whose
# jars/ links Distillery's class path. Spark's launcher turns the properties file's driver settings
# (spark.driver.memory, spark.driver.extraJavaOptions) into the driver JVM's command line.
set -euo pipefail
export SPARK_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SPARK_SCALA_VERSION=2.12 # a distribution's load-spark-env.sh sets it; the launcher needs it
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Spark's launcher prints a line holding a NUL, then the command as NUL-terminated words (as in bin/spark-class).
cmd=()
delim=$'\n'
started=false
while IFS= read -d "$delim" -r arg; do
  if [[ $started == true ]]; then
    cmd+=("$arg")
  elif [[ -z $arg ]]; then
    delim=''
    started=true
  else
    echo "$arg"
  fi
done < <("$java" -Xmx128m -cp "$SPARK_HOME/jars/*" org.apache.spark.launcher.Main org.apache.spark.deploy.SparkSubmit "$@"; printf '%d\0' $?)
[[ ${#cmd[@]} -gt 0 ]] || exit 1
status=${cmd[${#cmd[@]}-1]}
unset 'cmd[${#cmd[@]}-1]'
[[ $status == 0 ]] || exit "$status"
exec "${cmd[@]}"
EOF
  chmod +x "$home/bin/spark-submit"
}

# Waits until a log holds a line matching a pattern; prints the first match.
await_log() {
  local log=$1 pattern=$2 what=$3 pid=$4 deadline=$((SECONDS + ${DISTILLERY_CLUSTER_START_TIMEOUT:-120}))
  while ((SECONDS < deadline)); do
    if grep -m1 -E "$pattern" "$log" 2>/dev/null; then return 0; fi
    ours "$pid" || { stop_all quiet; die "$what exited during start-up; see $log"; }
    sleep 0.5
  done
  stop_all quiet
  die "$what did not start within ${DISTILLERY_CLUSTER_START_TIMEOUT:-120} s; see $log"
}

daemon() { # name class args...
  local name=$1 class=$2
  shift 2
  local -a opts
  mapfile -t opts < <(jvm_options)
  SPARK_HOME="$state/spark-home" SPARK_SCALA_VERSION=2.12 SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_DIRS="$state/local/$name" OMP_NUM_THREADS=1 \
    nohup "$java" -Xmx"${DISTILLERY_CLUSTER_DAEMON_HEAP:-512m}" "${opts[@]}" "$marker" \
    -cp "$state/spark-home/jars/*" "$class" "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pids/$name"
}

start() {
  if running; then
    die "already running at $(master_url) (pid $(pid_of master)); run 'cluster-config/local-cluster.sh stop' first"
  fi
  stop_all quiet # leftovers of a crashed start
  local workers=${DISTILLERY_CLUSTER_WORKERS:-2} cp jar url ui i
  [[ $workers =~ ^[1-9][0-9]*$ ]] || die "DISTILLERY_CLUSTER_WORKERS must be a positive number, got '$workers'"
  cp=$(classpath)
  jar=$(app_jar)
  rm -rf "$state"
  mkdir -p "$state/pids" "$state/logs" "$state/work" "$state/local" "$state/drivers"
  make_spark_home "$state/spark-home" "$cp"

  daemon master org.apache.spark.deploy.master.Master --host 127.0.0.1 \
    --port "${DISTILLERY_CLUSTER_MASTER_PORT:-0}" --webui-port "${DISTILLERY_CLUSTER_UI_PORT:-0}"
  url=$(await_log "$state/logs/master.log" 'Starting Spark master at spark://' Master "$(pid_of master)" | grep -o 'spark://[^ ]*')
  ui=$(await_log "$state/logs/master.log" 'Bound MasterWebUI to .* started at http' 'Master web UI' "$(pid_of master)" | grep -o 'http://[^ ]*')
  for ((i = 1; i <= workers; i++)); do
    mkdir -p "$state/work/worker-$i" "$state/local/worker-$i"
    daemon "worker-$i" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --port 0 --webui-port 0 \
      --cores "${DISTILLERY_CLUSTER_WORKER_CORES:-1}" --memory "${DISTILLERY_CLUSTER_WORKER_MEMORY:-2g}" \
      --work-dir "$state/work/worker-$i" "$url"
  done
  for ((i = 1; i <= workers; i++)); do
    await_log "$state/logs/worker-$i.log" 'Successfully registered with master' "Worker $i" "$(pid_of "worker-$i")" >/dev/null
  done
  printf 'MASTER_URL=%s\nMASTER_UI=%s\nAPP_JAR=%s\nWORKERS=%s\n' "$url" "$ui" "$jar" "$workers" >"$state/cluster.env"
  say "Master and $workers Workers running (web UI $ui, logs in $state/logs)"
  echo "$url"
}

submit() {
  running || die "no cluster is running in $state; run 'cluster-config/local-cluster.sh start' first"
  [[ $# -ge 1 ]] || die "usage: cluster-config/local-cluster.sh submit <subcommand> [args...]"
  local props=${DISTILLERY_SPARK_DEFAULTS:-$here/spark-defaults.local-cluster.conf}
  [[ -f $props ]] || die "properties file $props does not exist"
  # The file names ND4J's oneDNN build for executors; a CPU without AVX2 cannot load it.
  if ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    sed 's/ -Dorg\.bytedeco\.javacpp\.platform\.extension=-onednn-avx2//' "$props" >"$state/spark-defaults.conf"
    props="$state/spark-defaults.conf"
  fi
  # The driver is this process after the execs below: record it so that stop can find it. Its
  # temporary files go under the state directory too, so a killed driver leaves nothing in /tmp.
  touch "$state/drivers/$$"
  mkdir -p "$state/local/drivers"
  SPARK_HOME="$state/spark-home" SPARK_MASTER_URL=$(master_url) DISTILLERY_SPARK_DEFAULTS=$props \
    DISTILLERY_JAR=$(sed -n 's/^APP_JAR=//p' "$state/cluster.env") SPARK_LOCAL_IP=127.0.0.1 \
    SPARK_LOCAL_DIRS="$state/local/drivers" SPARK_SUBMIT_OPTS="$marker -Djava.io.tmpdir=$state/local/drivers ${SPARK_SUBMIT_OPTS:-}" DEPLOY_MODE=client \
    exec "$here/submit.sh" standalone "$@"
}

status() {
  [[ -f $state/cluster.env ]] || die "no cluster in $state; run 'cluster-config/local-cluster.sh start'"
  local f name pid
  echo "master-url $(master_url)"
  echo "web-ui $(sed -n 's/^MASTER_UI=//p' "$state/cluster.env")"
  for f in "$state"/pids/*; do
    name=$(basename "$f")
    pid=$(cat "$f")
    if ours "$pid"; then echo "$name $pid running"; else echo "$name $pid stopped"; fi
  done
  for pid in $(executor_pids); do echo "executor $pid running"; done
  running || exit 2
}

# Stops every process start and submit started (and only those: each carries the marker), executors too.
stop_all() {
  local quiet=${1:-} f pid pids=()
  [[ -d $state ]] || { [[ -n $quiet ]] || say "nothing to stop in $state"; return 0; }
  for f in "$state"/drivers/*; do
    [[ -f $f ]] && ours "$(basename "$f")" && pids+=("$(basename "$f")")
  done
  for f in "$state"/pids/worker-* "$state"/pids/master; do
    [[ -f $f ]] && ours "$(cat "$f")" && pids+=("$(cat "$f")")
  done
  # Executors carry no marker but were children of our Workers: kill them by pid along with the rest.
  local -a execs
  mapfile -t execs < <(executor_pids)
  pids+=("${execs[@]}")
  if [[ ${#pids[@]} -gt 0 ]]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + 15)) alive
    while ((SECONDS < deadline)); do
      alive=0
      for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && alive=1; done
      ((alive)) || break
      sleep 0.3
    done
    for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null || true; done
  fi
  rm -rf "$state/spark-home" "$state/local" "$state/pids" "$state/drivers" "$state/cluster.env" "$state/spark-defaults.conf"
  [[ -n $quiet ]] || say "stopped ${#pids[@]} processes; logs left in $state/logs and $state/work"
}

[[ $# -ge 1 ]] || die "usage: cluster-config/local-cluster.sh <start|submit ARGS...|status|stop>"
command=$1
shift
case $command in
  start) [[ $# -eq 0 ]] || die "start takes no arguments"; start ;;
  submit) submit "$@" ;;
  status) status ;;
  stop) [[ $# -eq 0 ]] || die "stop takes no arguments"; stop_all ;;
  *) die "unknown command '$command': expected start, submit, status or stop" ;;
esac
