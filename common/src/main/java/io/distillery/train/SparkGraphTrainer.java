package io.distillery.train;

import io.distillery.config.TrainSettings;
import io.distillery.errors.BadInputException;
import io.distillery.layer.FusedBatchNormHelper;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.api.TrainingHook;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains a ComputationGraph with DL4J's {@link SparkComputationGraph} and
 * {@link ParameterAveragingTrainingMaster}. We call it once per averaging round on exactly that
 * round's rows, so DL4J never needs to count, random-split, persist or repartition the data itself
 * (each of which costs a pass or a shuffle per round); workers fit every batch they get and the
 * master averages parameters and updater state when the round ends.
 */
public final class SparkGraphTrainer {
    private static final Logger log = LoggerFactory.getLogger(SparkGraphTrainer.class);
    /** Larger than any round's batch count, so DL4J's own split logic sees a single split per call. */
    private static final int UNBOUNDED_AVERAGING = 1_000_000;
    /** Training batches a gradient-sharing epoch re-estimates batch-norm statistics from (see {@link BatchNormRecalibration}). */
    private static final int RECALIBRATION_BATCHES = 16;

    public record EpochResult(int epoch, double seconds, double learningRate, double trainScore, long examples, int rounds) {
    }

    public interface EpochListener {
        void onEpoch(ComputationGraph graph, EpochResult result);
    }

    /**
     * DL4J counts the RDD before every fit only to decide how to split it; a round is never split
     * (see {@link #UNBOUNDED_AVERAGING}), so the count, a full extra pass that assembles every batch
     * of the round, is skipped.
     */
    static final class RoundTrainingMaster extends ParameterAveragingTrainingMaster {
        RoundTrainingMaster(Builder builder) {
            super(builder);
        }

        @Override
        protected <T, R extends org.apache.spark.api.java.JavaRDDLike<T, R>> long getTotalDataSetObjectCount(
                org.apache.spark.api.java.JavaRDDLike<T, R> trainingData) {
            return 1;
        }
    }

    /**
     * Workers rebuild the graph from its configuration every round, with DL4J's own batch-norm
     * helper; this puts {@link FusedBatchNormHelper} back in before each minibatch (a no-op after the first).
     */
    static final class InstallFusedBatchNorm implements TrainingHook {
        @Override
        public void preUpdate(org.nd4j.linalg.dataset.api.MultiDataSet minibatch, Model model) {
            if (model instanceof ComputationGraph graph) {
                FusedBatchNormHelper.install(graph);
            }
        }

        @Override
        public void preUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
        }

        @Override
        public void postUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
        }

        @Override
        public void postUpdate(org.nd4j.linalg.dataset.api.MultiDataSet minibatch, Model model) {
        }
    }

    private final JavaSparkContext sc;
    private final TrainSettings settings;
    private final String label;
    private final HeadSchedule schedule;
    private final java.util.function.ObjDoubleConsumer<ComputationGraph> learningRate;

    public SparkGraphTrainer(JavaSparkContext sc, TrainSettings settings, String label) {
        this(sc, settings, label, HeadSchedule.none());
    }

    public SparkGraphTrainer(JavaSparkContext sc, TrainSettings settings, String label, HeadSchedule schedule) {
        this(sc, settings, label, schedule, ComputationGraph::setLearningRate);
    }

    /**
     * @param learningRate sets an epoch's rate in the graph's layer configurations: every layer's by
     *                     default; a graph with parts on rates of their own (a data-free generator) says how
     */
    public SparkGraphTrainer(JavaSparkContext sc, TrainSettings settings, String label, HeadSchedule schedule,
                             java.util.function.ObjDoubleConsumer<ComputationGraph> learningRate) {
        this.sc = sc;
        this.settings = settings;
        this.label = label;
        this.schedule = schedule;
        this.learningRate = learningRate;
    }

    public int workers() {
        return settings.workers() > 0 ? settings.workers() : sc.defaultParallelism();
    }

    /** Rounds per epoch: each round gives every worker about {@code averaging-frequency} minibatches. */
    public int rounds(long examples) {
        long perRound = (long) workers() * settings.averagingFrequency() * settings.batchSize();
        return (int) Math.max(1, (examples + perRound - 1) / perRound);
    }

    public void fit(ComputationGraph graph, TrainingBatches data, int firstEpoch, EpochListener listener) {
        SparkComputationGraph spark;
        int rounds;
        if (settings.sharesGradients()) {
            if (!schedule.isEmpty()) {
                throw new BadInputException(label + ": train.mode = gradient-sharing cannot follow this method's per-epoch"
                        + " head weights (" + schedule + "): DL4J's workers keep the first epoch's; use parameter-averaging");
            }
            // No rounds: one Spark job per epoch, workers exchanging updates after every minibatch.
            spark = new SparkComputationGraph(sc, graph, GradientSharing.master(sc, settings, workers(), label));
            rounds = 1;
        } else {
            spark = new SparkComputationGraph(sc, graph, averagingMaster());
            rounds = rounds(data.count());
        }
        ComputationGraphConfiguration conf = graph.getConfiguration();
        long batchesPerRound = Math.max(1, data.count() / ((long) rounds * workers() * settings.batchSize()));
        for (int epoch = firstEpoch; epoch < settings.epochs(); epoch++) {
            long start = System.nanoTime();
            double scoreSum = 0;
            // The rate goes into the layer configurations, which the workers receive with the parameters
            // each round. An epoch-based ISchedule cannot do this in DL4J 1.0.0-M2.1: workers rebuild the
            // graph from a clone of its configuration, and clone() drops the epoch count (they would stay
            // at epoch 0 forever); PolySchedule also grows as (1 + epoch/max) rather than decaying.
            double rate = settings.learningRateAt(epoch);
            learningRate.accept(graph, rate);
            // Head weights travel the same way: in the loss functions of the layer configurations.
            schedule.apply(graph, epoch);
            if (!schedule.isEmpty()) {
                log.info("{} epoch {}: head weight multipliers {}", label, epoch + 1, schedule.at(epoch));
            }
            for (int r = 0; r < rounds; r++) {
                // DL4J's fit bumps the epoch count on every call; keep the real epoch in the saved model.
                conf.setEpochCount(epoch);
                sc.setJobDescription(label + ": epoch " + (epoch + 1) + "/" + settings.epochs() + (settings.sharesGradients() ? ", gradient sharing" : ", averaging round " + (r + 1) + "/" + rounds));
                spark.fitMultiDataSet(data.round(epoch, r, rounds));
                scoreSum += spark.getScore();
                conf.setIterationCount((int) Math.min(Integer.MAX_VALUE, (long) epoch * rounds * batchesPerRound + (r + 1) * batchesPerRound));
            }
            if (settings.sharesGradients()) {
                long recalibrationStart = System.nanoTime();
                var sample = data.round(epoch, 0, 1).take(RECALIBRATION_BATCHES);
                int layers = BatchNormRecalibration.recalibrate(graph, sample);
                log.info("{} epoch {}: re-estimated {} batch-norm layers' statistics on {} training batches in {} s", label, epoch + 1,
                        layers, sample.size(), String.format("%.1f", (System.nanoTime() - recalibrationStart) / 1e9));
                // DL4J reports no score for gradient sharing; the score on the same training batches stands in.
                scoreSum = sample.stream().mapToDouble(batch -> graph.score(batch, false)).average().orElse(Double.NaN);
            }
            conf.setEpochCount(epoch + 1);
            sc.setJobDescription(null);
            double seconds = (System.nanoTime() - start) / 1e9;
            EpochResult result = new EpochResult(epoch + 1, seconds, rate, scoreSum / rounds, data.count(), rounds);
            log.debug("{} epoch {} trained in {} s", label, epoch + 1, seconds);
            listener.onEpoch(graph, result);
        }
    }

    private ParameterAveragingTrainingMaster averagingMaster() {
        return new RoundTrainingMaster(new ParameterAveragingTrainingMaster.Builder(workers(), settings.batchSize())
                .batchSizePerWorker(settings.batchSize())
                .averagingFrequency(UNBOUNDED_AVERAGING)
                .rddTrainingApproach(RDDTrainingApproach.Direct)
                .repartionData(Repartition.Never)
                .storageLevel(null)
                .saveUpdater(true)
                // No background prefetch: with it, DL4J workers trained a student with a wide extra head
                // (a FitNets hint) on mixed-up batches (StudentSparkTrainingTest; cf. deeplearning4j#3523).
                .workerPrefetchNumBatches(0)
                .trainingHooks(new InstallFusedBatchNorm())
                .rngSeed(settings.seed()));
    }
}
