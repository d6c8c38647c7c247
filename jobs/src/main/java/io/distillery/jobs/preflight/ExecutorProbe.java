package io.distillery.jobs.preflight;

import io.distillery.table.Json;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Runs one tiny task per task slot (at most {@value #MAX_TASKS}): each loads ND4J, multiplies a 2x2
 * matrix and reports its JVM's {@link JvmFacts}. A native library that does not load on an executor
 * (wrong platform, a oneDNN build on a CPU without AVX2, a missing nd4j-native jar) is reported by
 * that executor instead of failing the first real stage minutes later.
 */
public final class ExecutorProbe {
    static final String NAME = "nd4j";
    static final int MAX_TASKS = 256;

    private ExecutorProbe() {
    }

    /** The facts of each distinct executor that ran a probe task (the driver itself in local mode). */
    public static List<JvmFacts> probe(SparkSession spark) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int tasks = Math.max(1, Math.min(MAX_TASKS, sc.defaultParallelism()));
        spark.sparkContext().setJobDescription("preflight: ND4J on executors");
        try {
            List<String> reports = sc.parallelize(IntStream.range(0, tasks).boxed().toList(), tasks)
                    .map(i -> Json.line(JvmFacts.collect())).collect();
            Map<String, JvmFacts> byExecutor = new LinkedHashMap<>();
            for (String r : reports) {
                JvmFacts f = Json.read(r, JvmFacts.class, "executor probe");
                byExecutor.putIfAbsent(f.executorId(), f);
            }
            return new ArrayList<>(byExecutor.values());
        } finally {
            spark.sparkContext().setJobDescription(null);
        }
    }

    /** One line for the driver's ND4J and every probed executor's, or one problem line per distinct failure. */
    public static List<Check> check(JvmFacts driver, List<JvmFacts> executors) {
        List<Check> problems = new ArrayList<>();
        if (driver.error() != null) {
            problems.add(Check.problem(NAME, "ND4J fails on the driver: " + driver.error() + "; " + advice()));
        }
        Map<String, List<JvmFacts>> byError = new LinkedHashMap<>();
        for (JvmFacts e : executors) {
            if (e.error() != null) {
                byError.computeIfAbsent(e.error(), k -> new ArrayList<>()).add(e);
            }
        }
        byError.forEach((error, failed) -> {
            if (!(failed.size() == 1 && "driver".equals(failed.get(0).executorId()) && driver.error() != null)) {
                problems.add(Check.problem(NAME, "ND4J fails on " + failed.get(0).where()
                        + (failed.size() > 1 ? " and " + (failed.size() - 1) + " more executor(s)" : "") + ": " + error + "; " + advice()));
            }
        });
        if (!problems.isEmpty()) {
            return problems;
        }
        List<String> where = executors.stream().map(JvmFacts::where).toList();
        JvmFacts first = executors.isEmpty() ? driver : executors.get(0);
        return List.of(Check.ok(NAME, "ND4J " + first.backend() + " (" + first.blas() + ", oneDNN " + first.onednn() + ") loads and computes on "
                + (where.size() == 1 ? where.get(0) : where.size() + " executors: " + String.join(", ", where))
                + "; heap " + MemoryCheck.size(first.heapBytes()) + ", maxbytes " + MemoryCheck.size(first.maxBytes())
                + ", maxphysicalbytes " + MemoryCheck.size(first.maxPhysicalBytes())));
    }

    /** A probe job that failed as a whole (no executor answered). */
    static Check failed(Throwable t, boolean stopped) {
        if (stopped) {
            return Check.problem(NAME, "no executor ran the probe and Spark stopped the application (the cluster manager could not start "
                    + "executors, or they died at once): see the driver log above and the executors' stderr; " + advice());
        }
        return Check.problem(NAME, "the probe job failed: " + JvmFacts.oneLine(t) + "; check the executor logs, " + advice());
    }

    private static String advice() {
        return "the jar needs nd4j-native for the executors' platform (this build: linux-x86_64), and "
                + "-Dorg.bytedeco.javacpp.platform.extension=-onednn-avx2 in spark.executor.extraJavaOptions needs CPUs with AVX2 (remove it otherwise)";
    }
}
