package io.distillery.runtime;

import org.deeplearning4j.config.DL4JSystemProperties;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Puts ND4J into the configuration every Distillery JVM (driver, executor, test) should run with.
 * Must run before the first ND4J class loads its native library, so entry points call
 * {@link #configure()} first thing; executors call it from their task functions, and the launcher
 * and spark-defaults also pass the same flags on the command line for JVMs we do not start.
 */
public final class Nd4jRuntime {
    private static final Logger log = LoggerFactory.getLogger(Nd4jRuntime.class);
    static final String PLATFORM_EXTENSION = "org.bytedeco.javacpp.platform.extension";
    static final String ONEDNN_EXTENSION = "-onednn-avx2";
    private static volatile boolean configured;

    private Nd4jRuntime() {
    }

    /** Idempotent: selects the oneDNN build when the CPU supports AVX2 and enables DL4J's layer helpers. */
    public static synchronized void configure() {
        if (configured) {
            return;
        }
        if (System.getProperty(PLATFORM_EXTENSION) == null && cpuHasAvx2()) {
            System.setProperty(PLATFORM_EXTENSION, ONEDNN_EXTENSION);
        }
        if (System.getProperty(DL4JSystemProperties.DISABLE_HELPER_PROPERTY) == null) {
            System.setProperty(DL4JSystemProperties.DISABLE_HELPER_PROPERTY, "false");
        }
        configured = true;
    }

    /**
     * Native threads per ND4J call, which only {@code OMP_NUM_THREADS} at JVM start controls: ND4J's
     * own setMaxThreads does not reach oneDNN's OpenMP pool. Spark runs one task per core, so the
     * launcher and spark-defaults set it to 1; left at the core count, two tasks on two cores
     * oversubscribe OpenMP and training ran about half as fast (measured here).
     */
    public static int threads() {
        String env = System.getenv("OMP_NUM_THREADS");
        try {
            return env == null ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(env.trim());
        } catch (NumberFormatException e) {
            return Runtime.getRuntime().availableProcessors();
        }
    }

    /** One line for the logs: backend, oneDNN state, and which helper the first convolution got. */
    public static String describe(ComputationGraph graph) {
        String helper = "none";
        for (Layer layer : graph.getLayers()) {
            if (layer instanceof ConvolutionLayer conv) {
                helper = conv.getHelper() == null ? "built-in" : conv.getHelper().getClass().getSimpleName();
                break;
            }
        }
        boolean onednn = org.nd4j.nativeblas.Nd4jCpu.Environment.getInstance().isUseMKLDNN();
        return "ND4J " + Nd4j.getExecutioner().getEnvironmentInformation().getProperty("backend")
                + ", oneDNN " + (onednn ? "on" : "off") + ", conv helper " + helper
                + ", OpenMP threads per call " + threads();
    }

    static boolean cpuHasAvx2() {
        try {
            Path cpuinfo = Path.of("/proc/cpuinfo");
            return Files.isReadable(cpuinfo) && Files.readString(cpuinfo).contains(" avx2");
        } catch (IOException e) {
            log.debug("cannot read /proc/cpuinfo, assuming no AVX2", e);
            return false;
        }
    }
}
