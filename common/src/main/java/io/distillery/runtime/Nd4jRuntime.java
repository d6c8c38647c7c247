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

    /** Caps ND4J's own thread pool for this JVM; one thread per Spark task is best for small models. */
    public static void limitThreads(int threads) {
        if (threads > 0) {
            configure();
            Nd4j.getEnvironment().setMaxMasterThreads(threads);
            Nd4j.getEnvironment().setMaxThreads(threads);
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
                + ", threads " + Nd4j.getEnvironment().maxThreads();
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
