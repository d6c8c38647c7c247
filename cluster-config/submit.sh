#!/usr/bin/env bash
# Runs a Distillery command with spark-submit on a local, standalone, YARN or Kubernetes cluster:
# the same fat jar and subcommands as bin/distill, with spark-defaults.<cluster>.conf beside this
# script as the properties file.
#
#   cluster-config/submit.sh <local|standalone|yarn|k8s> <subcommand> [args...]
#   cluster-config/submit.sh yarn pipeline --config cluster-config/pipelines/fashion-mnist-hdfs.conf
#
# Environment:
#   SPARK_HOME           a Spark 3.5.x distribution built for Scala 2.12 (required)
#   SPARK_MASTER_URL     standalone: spark://HOST:7077 (required there)
#   HADOOP_CONF_DIR      yarn: the cluster's client configuration, or YARN_CONF_DIR (required there)
#   K8S_API, K8S_IMAGE   k8s: API server URL and container image (required there)
#   K8S_NAMESPACE        k8s: namespace (default: default)
#   K8S_SERVICE_ACCOUNT  k8s: the account the driver creates executor pods with (default: spark)
#   DEPLOY_MODE          client | cluster (default: cluster on k8s, client elsewhere)
#   LOCAL_CORES          local: N of local[N] (default: *)
#   DISTILLERY_JAR       the fat jar; a URI (hdfs://, local://, ...) is passed on unchecked. Default:
#                        jobs/target/distillery-jobs-*-spark.jar, built if missing; in k8s cluster
#                        mode local:///opt/distillery/distillery-jobs-spark.jar (inside the image)
#   DISTILLERY_SPARK_DEFAULTS  a properties file to use instead of spark-defaults.<cluster>.conf
#   DISTILLERY_SUBMIT_ARGS     extra spark-submit options, split on whitespace, for example
#                        "--conf spark.executor.instances=8 --name nightly"
#
# In cluster deploy mode the driver does not run here, so a --config file must reach it: on YARN
# this script ships it with --files; on Kubernetes and standalone it must be an absolute path that
# exists where the driver runs (inside the image, or on every worker).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

die() {
  echo "submit.sh: error: $*" >&2
  exit 2
}
warn() {
  echo "submit.sh: warning: $*" >&2
}

[[ $# -ge 2 ]] || die "usage: cluster-config/submit.sh <local|standalone|yarn|k8s> <subcommand> [args...]"
cluster=$1
shift
case $cluster in
  local | standalone | yarn | k8s) ;;
  *) die "unknown cluster '$cluster': expected local, standalone, yarn or k8s" ;;
esac

# --- Spark and Java.
[[ -n ${SPARK_HOME:-} ]] || die "SPARK_HOME is not set: point it at a Spark 3.5.x distribution built for Scala 2.12 (for example spark-3.5.1-bin-hadoop3), whose bin/spark-submit this script runs"
[[ -x $SPARK_HOME/bin/spark-submit ]] || die "SPARK_HOME=$SPARK_HOME has no bin/spark-submit; it must be an unpacked Spark distribution"
if ! compgen -G "$SPARK_HOME/jars/spark-core_2.12-3.5.*.jar" >/dev/null; then
  warn "$SPARK_HOME/jars has no spark-core_2.12-3.5.*.jar; Distillery is built for Spark 3.5.x with Scala 2.12"
fi
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
java_version=$("$java_bin" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}') ||
  die "cannot run $java_bin; set JAVA_HOME to a Java 17 installation"
[[ ${java_version%%.*} =~ ^[0-9]+$ && ${java_version%%.*} -ge 17 ]] ||
  die "$java_bin is Java ${java_version:-of unknown version}; Distillery needs Java 17 (set JAVA_HOME)"

# --- Deploy mode and properties file.
deploy_mode=${DEPLOY_MODE:-}
if [[ -z $deploy_mode ]]; then
  if [[ $cluster == k8s ]]; then deploy_mode=cluster; else deploy_mode=client; fi
fi
[[ $deploy_mode == client || $deploy_mode == cluster ]] || die "DEPLOY_MODE must be client or cluster, got '$deploy_mode'"
[[ $cluster != local || $deploy_mode == client ]] || die "local runs in client mode only"

props=${DISTILLERY_SPARK_DEFAULTS:-$here/spark-defaults.$cluster.conf}
[[ -f $props ]] || die "properties file $props does not exist"

# Every JVM needs cluster-config/jvm-options; the properties files carry them on one line each, so
# refuse a file that has drifted from the list rather than fail later inside an executor.
check_java_options() {
  local key line opt
  local -a keys=(spark.driver.extraJavaOptions)
  [[ $cluster == local ]] || keys+=(spark.executor.extraJavaOptions)
  for key in "${keys[@]}"; do
    line=$(grep -E "^[[:space:]]*${key//./\\.}[[:space:]=:]" "$props" | tail -n 1) ||
      die "$props sets no $key; every JVM needs the options in cluster-config/jvm-options"
    while IFS= read -r opt; do
      [[ " $line " == *" $opt "* ]] || die "$props: $key lacks $opt from cluster-config/jvm-options; keep the two in step"
    done < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/jvm-options" | sed 's/[[:space:]]*$//')
  done
}
check_java_options

# --- The fat jar.
newest_jar() {
  local f best=""
  for f in "$root"/jobs/target/distillery-jobs-*-spark.jar; do
    if [[ -f $f && (-z $best || $f -nt $best) ]]; then best=$f; fi
  done
  echo "$best"
}
jar=${DISTILLERY_JAR:-}
if [[ -z $jar && $cluster == k8s && $deploy_mode == cluster ]]; then
  jar=local:///opt/distillery/distillery-jobs-spark.jar
fi
if [[ -z $jar ]]; then
  jar=$(newest_jar)
  if [[ -z $jar ]]; then
    command -v mvn >/dev/null ||
      die "no jobs/target/distillery-jobs-*-spark.jar and no mvn to build it: run 'mvn -DskipTests package' where Maven is installed, or set DISTILLERY_JAR"
    echo "submit.sh: no fat jar yet; building it (mvn -DskipTests package)..." >&2
    (cd "$root" && mvn -B -q -DskipTests package) >&2
    jar=$(newest_jar)
    [[ -n $jar ]] || die "mvn package succeeded but left no jobs/target/distillery-jobs-*-spark.jar"
  elif [[ -n $(find "$root/pom.xml" "$root"/{common,data-prep,jobs}/pom.xml "$root"/{common,data-prep,jobs}/src/main \
      -newer "$jar" -type f -print -quit 2>/dev/null) ]]; then
    warn "$jar is older than the sources; run 'mvn -DskipTests package' to submit the current code"
  fi
elif [[ $jar != *://* && ! -f $jar ]]; then
  die "DISTILLERY_JAR=$jar does not exist"
fi

# --- Master, per cluster.
args=(--properties-file "$props" --class io.distillery.jobs.cli.DistillCli)
case $cluster in
  local)
    args+=(--master "local[${LOCAL_CORES:-*}]")
    ;;
  standalone)
    [[ -n ${SPARK_MASTER_URL:-} ]] || die "standalone needs SPARK_MASTER_URL=spark://HOST:7077 (the URL at the top of the Master's web UI)"
    [[ $SPARK_MASTER_URL == spark://* ]] || die "SPARK_MASTER_URL must start with spark://, got '$SPARK_MASTER_URL'"
    args+=(--master "$SPARK_MASTER_URL" --deploy-mode "$deploy_mode")
    ;;
  yarn)
    [[ -n ${HADOOP_CONF_DIR:-}${YARN_CONF_DIR:-} ]] ||
      die "yarn needs HADOOP_CONF_DIR (or YARN_CONF_DIR): the directory holding the cluster's core-site.xml and yarn-site.xml"
    args+=(--master yarn --deploy-mode "$deploy_mode")
    ;;
  k8s)
    [[ -n ${K8S_API:-} ]] || die "k8s needs K8S_API, the API server URL that 'kubectl cluster-info' prints, e.g. https://10.0.0.1:6443"
    [[ -n ${K8S_IMAGE:-} ]] || die "k8s needs K8S_IMAGE, an image with Java 17, Spark 3.5.x and the fat jar (cluster-config/README.md, \"Kubernetes\")"
    args+=(--master "k8s://${K8S_API#k8s://}" --deploy-mode "$deploy_mode"
      --conf "spark.kubernetes.container.image=$K8S_IMAGE"
      --conf "spark.kubernetes.namespace=${K8S_NAMESPACE:-default}"
      --conf "spark.kubernetes.authenticate.driver.serviceAccountName=${K8S_SERVICE_ACCOUNT:-spark}")
    ;;
esac

# --- The command's arguments; in cluster mode, make --config reachable by the driver.
files=()
driver_config=""
place_config() {
  local path=$1
  [[ -n $path ]] || die "--config needs a file"
  if [[ $deploy_mode == client ]]; then
    driver_config=$path
  elif [[ $cluster == yarn ]]; then
    [[ -f $path ]] || die "config file $path does not exist"
    files+=("$path")
    driver_config=$(basename "$path") # YARN puts --files in the driver's working directory
  else
    [[ $path == /* ]] || die "$cluster cluster mode: --config must be an absolute path where the driver runs (inside the image, or on every worker), got '$path'"
    driver_config=$path
  fi
}
app=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -c | --config)
      place_config "${2:-}"
      app+=("$1" "$driver_config")
      shift 2
      ;;
    --config=*)
      place_config "${1#--config=}"
      app+=("--config=$driver_config")
      shift
      ;;
    *)
      app+=("$1")
      shift
      ;;
  esac
done
if [[ ${#files[@]} -gt 0 ]]; then
  args+=(--files "$(IFS=,; echo "${files[*]}")")
fi

read -r -a extra <<<"${DISTILLERY_SUBMIT_ARGS:-}"
args+=("${extra[@]}")

# Local mode runs tasks as threads of this JVM: one OpenMP thread each (see README.md, "Settings every file shares").
[[ $cluster == local ]] && export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
cmd=("$SPARK_HOME/bin/spark-submit" "${args[@]}" "$jar" "${app[@]}")
echo "submit.sh: $(printf '%q ' "${cmd[@]}")" >&2
exec "${cmd[@]}"
