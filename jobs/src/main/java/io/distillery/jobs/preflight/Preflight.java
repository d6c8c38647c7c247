package io.distillery.jobs.preflight;

import io.distillery.config.PipelineConfig;
import io.distillery.errors.BadInputException;
import io.distillery.runtime.BuildInfo;
import io.distillery.runtime.Storage;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * What users trip over when they first submit to a cluster, checked in seconds instead of minutes
 * into a stage: Spark, Scala and DL4J/ND4J versions (driver and executors, against the build's),
 * ND4J's native library on every executor, Kryo with ND4J's registrator, executor memory against
 * ND4J's off-heap limits, and the run directory written and read from executors. One
 * {@link Check} (one line) per finding.
 *
 * <p>{@code bin/distill preflight} runs it on demand; every stage command runs it once per Spark
 * session before its first stage when the master is not local (see {@link #beforeStages}).
 */
public final class Preflight {
    private static final Logger log = LoggerFactory.getLogger(Preflight.class);

    private Preflight() {
    }

    /** Every check, in the order they are printed: spark, scala, dl4j, kryo, memory, nd4j, run-dir. */
    public static List<Check> run(SparkSession spark, Storage storage, String runDir) {
        SparkConf conf = spark.sparkContext().getConf();
        String master = spark.sparkContext().master();
        JvmFacts driver = JvmFacts.collect();
        Check kryo = KryoCheck.check(conf, Thread.currentThread().getContextClassLoader());
        Check memory = MemoryCheck.check(conf, master,
                new MemoryCheck.Limits(driver.heapBytes(), driver.maxBytes(), driver.maxPhysicalBytes()));

        List<JvmFacts> executors = List.of();
        Check probeFailure = null;
        if (KryoCheck.registratorMissing(kryo)) {
            probeFailure = Check.warn(ExecutorProbe.NAME, "skipped: tasks cannot return results until the kryo problem above is fixed");
        } else {
            try {
                executors = ExecutorProbe.probe(spark);
            } catch (RuntimeException e) {
                probeFailure = ExecutorProbe.failed(e, spark.sparkContext().isStopped());
            }
        }

        List<Check> checks = new ArrayList<>(VersionChecks.check(driver, executors, BuildInfo.sparkVersion(), BuildInfo.scalaVersion(),
                BuildInfo.dl4jVersion(), BuildInfo.dl4jSparkVersion()));
        checks.add(kryo);
        checks.add(memory);
        checks.addAll(probeFailure != null ? List.of(probeFailure) : ExecutorProbe.check(driver, executors));
        if (KryoCheck.registratorMissing(kryo)) {
            checks.add(Check.warn(RunDirProbe.NAME, "skipped: tasks cannot return results until the kryo problem above is fixed"));
        } else if (spark.sparkContext().isStopped()) {
            checks.add(Check.warn(RunDirProbe.NAME, "skipped: Spark stopped the application (see the nd4j problem above)"));
        } else {
            checks.addAll(RunDirProbe.check(spark, storage, runDir, !isLocal(master)));
        }
        return checks;
    }

    /**
     * One JVM: {@code local}, {@code local[N]}, {@code local[*]}, {@code local[N,F]}. Not
     * {@code local-cluster[...]}, whose executors are separate JVMs like a real cluster's.
     */
    public static boolean isLocal(String master) {
        return master.equals("local") || master.startsWith("local[");
    }

    public static boolean anyProblem(List<Check> checks) {
        return checks.stream().anyMatch(Check::isProblem);
    }

    /**
     * Called by every stage command right after its Spark session starts: on a cluster master
     * (anything but {@code local[...]}), runs every check once for this session; problems end the
     * command with exit status 2 before any stage reads or writes, warnings are logged. In local
     * mode it does nothing: one JVM has no executors to disagree with it, and the tests and the demo
     * pay nothing. The probes cost two jobs of one tiny task per slot: seconds.
     */
    public static void beforeStages(SparkSession spark, PipelineConfig config) {
        if (isLocal(spark.sparkContext().master())) {
            return;
        }
        requireNoProblem(run(spark, new Storage(spark.sparkContext().hadoopConfiguration()), config.runDir()));
    }

    /** Logs ok and warn lines, prints problem lines, and ends the command (exit status 2) naming the first problem. */
    static void requireNoProblem(List<Check> checks) {
        List<Check> problems = checks.stream().filter(Check::isProblem).toList();
        for (Check c : checks) {
            switch (c.status()) {
                case OK -> log.info("preflight: {}", c.line());
                case WARN -> log.warn("preflight: {}", c.line());
                case PROBLEM -> System.err.println("preflight: " + c.line());
            }
        }
        if (!problems.isEmpty()) {
            Check first = problems.get(0);
            throw new BadInputException("preflight: " + first.name() + ": " + first.message()
                    + (problems.size() > 1 ? " (and " + (problems.size() - 1) + " more problem(s) printed above)" : "")
                    + "; 'distill preflight' repeats the checks, --no-preflight skips them");
        }
    }
}
