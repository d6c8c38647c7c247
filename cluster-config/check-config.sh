#!/usr/bin/env bash
# Checks pipeline configs the way every Distillery command loads them (distillery-reference.conf, then the
# file; unknown keys and bad values rejected), without starting Spark: one short JVM on the fat jar.
#   cluster-config/check-config.sh cluster-config/pipelines/*.conf
# Exit status: the number of files that failed (0 = all good). DISTILLERY_JAR overrides the jar.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: cluster-config/check-config.sh FILE.conf..." >&2; exit 2; }

jar=${DISTILLERY_JAR:-}
if [[ -z $jar ]]; then
  for f in "$root"/jobs/target/distillery-jobs-*-spark.jar; do
    if [[ -f $f && (-z $jar || $f -nt $jar) ]]; then jar=$f; fi
  done
fi
[[ -f $jar ]] || { echo "check-config.sh: no fat jar (jobs/target/distillery-jobs-*-spark.jar); run 'mvn -DskipTests package' first" >&2; exit 2; }

src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cat >"$src/CheckConfig.java" <<'EOF'
import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import java.io.File;
import java.util.List;

public class CheckConfig {
    public static void main(String[] files) {
        int failed = 0;
        for (String f : files) {
            try {
                PipelineConfig c = ConfigLoader.load(new File(f), null, List.of());
                System.out.printf("ok    %s (run-dir %s, teacher %s, student %s)%n", f, c.runDir(), c.teacher().name(), c.student().name());
            } catch (RuntimeException e) {
                failed++;
                System.out.printf("FAIL  %s: %s%n", f, e.getMessage());
            }
        }
        System.exit(failed);
    }
}
EOF
status=0
"${JAVA_HOME:+$JAVA_HOME/bin/}java" -cp "$jar" "$src/CheckConfig.java" "$@" || status=$?
exit "$status"
