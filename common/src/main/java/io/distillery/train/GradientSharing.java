package io.distillery.train;

import io.distillery.config.TrainSettings;
import io.distillery.errors.BadInputException;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.optimize.solvers.accumulation.encoding.residual.ResidualClippingPostProcessor;
import org.deeplearning4j.optimize.solvers.accumulation.encoding.threshold.FixedThresholdAlgorithm;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;
import org.nd4j.parameterserver.distributed.v2.transport.PortSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.DatagramSocket;
import java.net.SocketException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * DL4J's gradient sharing ({@code train.mode = "gradient-sharing"}): after every minibatch each
 * worker sends its update, threshold-encoded, to every other worker over Aeron (UDP); the driver is
 * the mesh's root. Unlike parameter averaging there are no rounds: workers keep their model from the
 * first epoch to the last and only hand it back to the driver at the end of each epoch's Spark job.
 */
final class GradientSharing {
    private static final Logger log = LoggerFactory.getLogger(GradientSharing.class);
    /**
     * DL4J 1.0.0-M2 keeps one parameter server per JVM, wired to the first gradient-sharing master's
     * accumulator; a second master in the same application would train against a stale one.
     */
    private static final AtomicReference<String> USED_BY = new AtomicReference<>();
    /** Aeron refuses to start when this is not above DL4J's client liveness timeout; 60 s. */
    static final String AERON_UNBLOCK_TIMEOUT = "aeron.publication.unblock.timeout";

    private GradientSharing() {
    }

    /**
     * DL4J does not fail when Aeron cannot bind its port: the job waits forever. The driver's port at
     * least is checked first (an executor's taken port shows as "Address already in use" in its log).
     */
    static void requireFreePort(int port) {
        try (DatagramSocket socket = new DatagramSocket(port)) {
            socket.getLocalPort();
        } catch (SocketException e) {
            throw new BadInputException("train.gradient-sharing.port: UDP port " + port + " on the driver is in use (" + e.getMessage()
                    + "; another gradient-sharing job?); set train.gradient-sharing.port to a free one");
        }
    }

    /**
     * The driver (the mesh's root) listens on {@code port}, executor N on {@code port + 1 + N}: two
     * executors on one host (a loopback cluster, or several per node) cannot share a UDP port.
     */
    static final class ExecutorPortSupplier implements PortSupplier {
        // A class, not a record: the configuration travels to executors by Kryo, which cannot build records.
        private int port;

        ExecutorPortSupplier() {
        }

        ExecutorPortSupplier(int port) {
            this.port = port;
        }

        @Override
        public int getPort() {
            String id = SparkEnv.get() == null ? "driver" : SparkEnv.get().executorId();
            return !id.isEmpty() && id.chars().allMatch(Character::isDigit) ? port + 1 + Integer.parseInt(id) : port;
        }
    }

    static SharedTrainingMaster master(JavaSparkContext sc, TrainSettings settings, int workers, String label) {
        requireFreePort(settings.sharing().port());
        if (!USED_BY.compareAndSet(null, label)) {
            throw new BadInputException("train.mode = gradient-sharing: '" + label + "' is the second gradient-sharing stage in this"
                    + " Spark application (after '" + USED_BY.get() + "'); DL4J keeps one parameter server per JVM,"
                    + " so run it as a separate command or set its train.mode = parameter-averaging");
        }
        System.setProperty(AERON_UNBLOCK_TIMEOUT, System.getProperty(AERON_UNBLOCK_TIMEOUT, "60000000000"));
        TrainSettings.GradientSharing sharing = settings.sharing();
        double threshold = sharing.thresholdFor(settings.learningRate(), workers);
        String driverHost = sc.getConf().get("spark.driver.host", "127.0.0.1");
        VoidConfiguration.VoidConfigurationBuilder voidConf = VoidConfiguration.builder()
                .controllerAddress(driverHost)
                .unicastPort(sharing.port())
                .portSupplier(new ExecutorPortSupplier(sharing.port()));
        if (!sharing.networkMask().isEmpty()) {
            voidConf.networkMask(sharing.networkMask());
        }
        log.info("{}: gradient sharing among {} workers, threshold {}, Aeron on UDP port {} (executor N: {} + N) with the driver {} as root",
                label, workers, threshold, sharing.port(), sharing.port() + 1, driverHost);
        return new SharedTrainingMaster.Builder(voidConf.build(), settings.batchSize())
                .batchSizePerWorker(settings.batchSize())
                // One training thread per executor task: Spark already runs one task per core.
                .workersPerNode(1)
                .thresholdAlgorithm(new FixedThresholdAlgorithm(threshold))
                // What a step leaves behind waits as a residual; clip it so stale residuals do not pile up.
                .residualPostProcessor(new ResidualClippingPostProcessor(5, 5))
                .rddTrainingApproach(RDDTrainingApproach.Direct)
                .repartitionData(Repartition.Never)
                .workerPrefetchNumBatches(0)
                .rngSeed(settings.seed())
                .build();
    }
}
