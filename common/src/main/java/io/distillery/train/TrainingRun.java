package io.distillery.train;

import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.runtime.Storage;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;

/**
 * One model's training as a stage sees it: resume from the newest checkpoint if asked, train with
 * parameter averaging, and after every epoch measure (validation accuracy, per-head loss on a
 * training sample), checkpoint, append to the metrics log and print one progress line.
 */
public final class TrainingRun {
    private static final Logger log = LoggerFactory.getLogger(TrainingRun.class);
    /** One training row in this many goes into the per-head loss probe. */
    private static final int LOSS_SAMPLE_STRIDE = 32;

    private final JavaSparkContext sc;
    private final String label;
    private final TrainSettings settings;
    private final Checkpoints checkpoints;
    private final HeadSchedule schedule;
    private final UnaryOperator<ComputationGraph> deployable;
    private java.util.function.ObjDoubleConsumer<ComputationGraph> learningRate;

    public TrainingRun(JavaSparkContext sc, Storage storage, String outputDir, String label, TrainSettings settings) {
        this(sc, storage, outputDir, label, settings, HeadSchedule.none(), UnaryOperator.identity());
    }

    /**
     * @param schedule   per-epoch head weights
     * @param deployable the trained graph cut down to the classifier that validation measures
     */
    public TrainingRun(JavaSparkContext sc, Storage storage, String outputDir, String label, TrainSettings settings,
                       HeadSchedule schedule, UnaryOperator<ComputationGraph> deployable) {
        this.sc = sc;
        this.label = label;
        this.settings = settings;
        this.checkpoints = new Checkpoints(storage, outputDir);
        this.schedule = schedule;
        this.deployable = deployable;
        this.learningRate = ComputationGraph::setLearningRate;
    }

    /** As above, with how an epoch's learning rate is set in the graph ({@link SparkGraphTrainer}). */
    public TrainingRun withLearningRate(java.util.function.ObjDoubleConsumer<ComputationGraph> setter) {
        this.learningRate = setter;
        return this;
    }

    /** @param selectedEpoch the epoch whose weights {@code graph} holds */
    public record Result(ComputationGraph graph, List<EpochMetrics> metrics, int selectedEpoch) {
    }

    public Result run(ComputationGraph fresh, TrainingBatches train, Dataset<Row> validation, ImageShape shape, int classes, boolean resume) {
        ComputationGraph graph = fresh;
        List<EpochMetrics> metrics = new ArrayList<>();
        int first = 0;
        if (resume) {
            var restored = checkpoints.latest();
            if (restored.isPresent()) {
                graph = restored.get().graph();
                first = restored.get().epoch();
                metrics.addAll(restored.get().metrics());
                log.info("{}: resuming after epoch {} from its checkpoint", label, first);
            }
        }
        if (first < settings.epochs()) {
            train(graph, train, validation, shape, classes, first, metrics);
        }
        if (settings.select().equals(TrainSettings.BEST_VALIDATION) && !metrics.isEmpty()) {
            int best = Checkpoints.bestEpoch(metrics);
            if (best != metrics.get(metrics.size() - 1).epoch()) {
                log.info("{}: selecting epoch {} (best validation accuracy) over the last epoch", label, best);
                return new Result(checkpoints.load(best), metrics, best);
            }
        }
        return new Result(graph, metrics, metrics.isEmpty() ? 0 : metrics.get(metrics.size() - 1).epoch());
    }

    private void train(ComputationGraph graph, TrainingBatches train, Dataset<Row> validation, ImageShape shape, int classes, int first,
                       List<EpochMetrics> metrics) {
        SparkGraphTrainer trainer = new SparkGraphTrainer(sc, settings, label, schedule, learningRate);
        log.info("{}: {} examples, {} epochs, {} workers x batch {}, {}", label, train.count(), settings.epochs(), trainer.workers(),
                settings.batchSize(), settings.sharesGradients() ? "gradient sharing" : trainer.rounds(train.count()) + " averaging rounds per epoch");
        trainer.fit(graph, train, first, (g, r) -> {
            sc.setJobDescription(label + ": validation after epoch " + r.epoch());
            LossTerms.Measured probe = LossTerms.measure(sc, g, train.sample(LOSS_SAMPLE_STRIDE));
            Map<String, Double> loss = probe.loss();
            double accuracy = GraphEvaluator.accuracy(sc, io.distillery.model.Models.toBytes(deployable.apply(g), false), validation, shape,
                    classes, 256).value();
            sc.setJobDescription(null);
            EpochMetrics m = new EpochMetrics(r.epoch(), r.seconds(), r.trainScore(), loss, accuracy, r.examples(), r.rounds(),
                    probe.probes());
            metrics.add(m);
            checkpoints.save(g, r.epoch(), metrics);
            log.info("{} epoch {}/{}: {} s, lr {}, train score {}, loss {}{}, validation accuracy {}", label, r.epoch(), settings.epochs(),
                    String.format("%.1f", r.seconds()), String.format("%.2e", r.learningRate()), String.format("%.4f", r.trainScore()),
                    format(loss), probe.probes().isEmpty() ? "" : ", " + format(probe.probes()), String.format("%.4f", accuracy));
        });
    }

    private static String format(Map<String, Double> values) {
        return values.entrySet().stream().map(e -> e.getKey() + "=" + String.format("%.4f", e.getValue())).collect(Collectors.joining(" "));
    }
}
