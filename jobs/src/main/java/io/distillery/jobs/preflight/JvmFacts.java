package io.distillery.jobs.preflight;

import io.distillery.runtime.Nd4jRuntime;
import org.apache.spark.SparkEnv;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * What one JVM (the driver, or an executor inside a task) reports about itself: versions, whether
 * ND4J's native library loads and computes, and its memory limits. Plain values only, so that a
 * task can return it as JSON whatever serializer the cluster is set up with.
 *
 * @param error null when ND4J loaded and computed correctly; otherwise the failure, in one line
 */
public record JvmFacts(String executorId, String host, String javaVersion, String sparkVersion, String scalaVersion,
                       Map<String, List<String>> artifacts, String backend, String blas, String onednn,
                       long heapBytes, long maxBytes, long maxPhysicalBytes, String error) {

    /** 2x2 matrix [[1, 2], [3, 4]] times itself is [[7, 10], [15, 22]]: these sum to 54. */
    static final double PROBE_SUM = 54.0;

    /** Collects this JVM's facts; never throws for a ND4J failure, which it reports in {@link #error}. */
    public static JvmFacts collect() {
        String executorId = "driver";
        String host = "?";
        SparkEnv env = SparkEnv.get();
        if (env != null) {
            executorId = env.executorId();
            try {
                host = env.blockManager().blockManagerId().host();
            } catch (RuntimeException e) {
                host = "?";
            }
        }
        Map<String, List<String>> artifacts = ClasspathVersions.find(Thread.currentThread().getContextClassLoader() != null
                ? Thread.currentThread().getContextClassLoader() : JvmFacts.class.getClassLoader());
        String backend = null;
        String blas = null;
        String onednn = null;
        String error = null;
        long maxBytes = -1;
        long maxPhysicalBytes = -1;
        try {
            Nd4jRuntime.configure();
            INDArray a = Nd4j.create(new float[]{1, 2, 3, 4}, new long[]{2, 2}, 'c');
            double sum = a.mmul(a).sumNumber().doubleValue();
            Properties info = Nd4j.getExecutioner().getEnvironmentInformation();
            backend = String.valueOf(info.getProperty("backend", Nd4j.getBackend().getClass().getSimpleName()));
            blas = info.getProperty("blas.vendor");
            if (sum != PROBE_SUM) {
                error = "a 2x2 matrix product summed to " + sum + " instead of " + PROBE_SUM;
            }
            try {
                onednn = org.nd4j.nativeblas.Nd4jCpu.Environment.getInstance().isUseMKLDNN() ? "on" : "off";
            } catch (LinkageError | RuntimeException e) {
                onednn = "n/a";
            }
            maxBytes = org.bytedeco.javacpp.Pointer.maxBytes();
            maxPhysicalBytes = org.bytedeco.javacpp.Pointer.maxPhysicalBytes();
        } catch (Throwable t) {
            error = oneLine(t);
        }
        return new JvmFacts(executorId, host, System.getProperty("java.version"), org.apache.spark.package$.MODULE$.SPARK_VERSION(),
                scala.util.Properties.versionNumberString(), artifacts, backend, blas, onednn,
                Runtime.getRuntime().maxMemory(), maxBytes, maxPhysicalBytes, error);
    }

    /** "executor 3 on host-b", or "the driver". */
    public String where() {
        return "driver".equals(executorId) ? "the driver" : "executor " + executorId + " on " + host;
    }

    /** The innermost cause's class and message (where native loading errors say what is missing). */
    static String oneLine(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String outer = t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
        String inner = root == t ? "" : " (caused by " + root.getClass().getSimpleName()
                + (root.getMessage() == null ? "" : ": " + root.getMessage()) + ")";
        String line = (outer + inner).replaceAll("\\s+", " ");
        return line.length() <= MAX_LINE ? line : line.substring(0, MAX_LINE) + "...";
    }

    /** Exception messages can hold whole stack traces (Spark's "stopped SparkContext" does): keep a line readable. */
    static final int MAX_LINE = 300;
}
