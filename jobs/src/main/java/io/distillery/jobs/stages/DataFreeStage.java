package io.distillery.jobs.stages;

import io.distillery.config.MethodSettings;
import io.distillery.config.PipelineConfig;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.CdfkdMfs;
import io.distillery.method.HeaderAttentionStep;
import io.distillery.model.Models;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import io.distillery.table.Provenance;
import io.distillery.table.StagedOutput;
import io.distillery.train.HeadSchedule;
import io.distillery.train.NoiseBatches;
import io.distillery.train.TrainingRun;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.apache.spark.sql.functions.col;

/**
 * The distill stage without training images ({@code distill.cdfkd-mfs.enabled}): CDFKD-MFS trains a
 * generator and a multi-header student against the frozen teachers, all in one graph, with
 * parameter averaging. The workers train on noise they draw themselves ({@link NoiseBatches}: each
 * batch's noise comes from a seed derived from the run seed, epoch and batch index, which Spark hands
 * to the task), so no image and no teacher output moves. Generator and student update in the same
 * step (gradient reversal, see {@link CdfkdMfs}) and are averaged together each round, like any other
 * parameters: one graph keeps the game inside what parameter averaging already does, where
 * alternating rounds would need an averaging round per switch. Real images are read for validation
 * (epoch selection) and evaluation only.
 */
public final class DataFreeStage {
    private static final Logger log = LoggerFactory.getLogger(DataFreeStage.class);

    private DataFreeStage() {
    }

    public static Manifest run(StageContext ctx) {
        long start = System.nanoTime();
        PipelineConfig c = ctx.config();
        MethodSettings.CdfkdMfs settings = c.distill().cdfkdMfs();
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        Map<String, String> inputs = new LinkedHashMap<>(Map.of("examples", examples.contentHash()));
        Map<String, String> dirs = new LinkedHashMap<>();
        for (String name : c.distillTeachers()) {
            String dir = c.ensemble() ? ctx.layout().teacher(name) : ctx.layout().teacher();
            Manifest teacher = ctx.require(dir, "teacher");
            if (PrecomputeStage.isOnnx(teacher)) {
                throw new BadInputException("teacher " + name + " is an imported ONNX model, but CDFKD-MFS runs its teachers inside the"
                        + " training graph (on generated images, with gradients back to the generator), which needs DL4J weights;"
                        + " use DL4J teachers (trained by 'distill teacher' or imported as a DL4J zip)");
            }
            dirs.put(name, dir);
            inputs.put("teacher:" + name, teacher.contentHash());
        }
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("model", c.student().model());
        config.put("train", c.distill().train());
        config.put("cdfkd_mfs", settings);
        config.put("teachers", List.copyOf(dirs.keySet()));
        Provenance provenance = Provenance.of("student", Json.line(config), inputs);
        StagedOutput out = StagedOutput.open(ctx.storage(), ctx.layout().student(), provenance, ctx.force(), ctx.resume());
        if (out.upToDate()) {
            log.info("student: {} is up to date (same teachers and config), skipping", ctx.layout().student());
            return Manifest.read(ctx.storage(), ctx.layout().student());
        }
        try {
            return train(ctx, settings, examples, dirs, provenance, out, start);
        } catch (Exception e) {
            if (BadInputException.find(e) != null) {
                SparkRuntime.awaitRunningTasks(ctx.spark(), 30);
                out.abandon();
            }
            throw e;
        }
    }

    /**
     * The attention step on the first {@code samples} training images by id: the only real training
     * images a data-free run reads, a number fixed by the config (so collecting them is bounded).
     */
    private static HeaderAttentionStep.Result attentionStep(StageContext ctx, CdfkdMfs method, ComputationGraph student, ImageShape shape,
                                                            int samples) {
        long start = System.nanoTime();
        ctx.spark().sparkContext().setJobDescription("cdfkd-mfs attention step: the first " + samples + " training images");
        List<Row> rows = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).equalTo("train"))
                .select(ExamplesTable.ID, ExamplesTable.LABEL, ExamplesTable.IMAGE).orderBy(ExamplesTable.ID).limit(samples).collectAsList();
        if (rows.size() < 2) {
            throw new BadInputException("config key 'distill.cdfkd-mfs.attention-samples' is " + samples + ", but the examples table has "
                    + rows.size() + " training image(s); the attention step needs at least 2");
        }
        int pixels = shape.channels() * shape.height() * shape.width();
        float[] buffer = new float[rows.size() * pixels];
        int[] labels = new int[rows.size()];
        for (int r = 0; r < rows.size(); r++) {
            ExamplesTable.toChw(rows.get(r).getAs(ExamplesTable.IMAGE), shape, buffer, r * pixels);
            labels[r] = rows.get(r).<Number>getAs(ExamplesTable.LABEL).intValue();
        }
        INDArray images = Nd4j.create(buffer, new long[] {rows.size(), shape.channels(), shape.height(), shape.width()}, 'c');
        HeaderAttentionStep.Result result = HeaderAttentionStep.train(method, student, images, labels, ctx.config().distill().train().seed());
        log.info("student: attention step on {} labelled training images ({} held out): held-out accuracy {} with the headers' mean, {} kept"
                        + " (epoch {} of {}; 0 = the mean), {} s", rows.size(), result.heldOutSamples(), String.format("%.4f", result.meanHeldOutAccuracy()),
                String.format("%.4f", result.heldOutAccuracy()), result.selectedEpoch(), HeaderAttentionStep.EPOCHS, String.format("%.1f", (System.nanoTime() - start) / 1e9));
        return result;
    }

    private static Manifest train(StageContext ctx, MethodSettings.CdfkdMfs settings, Manifest examples, Map<String, String> dirs,
                                  Provenance provenance, StagedOutput out, long start) {
        PipelineConfig c = ctx.config();
        ImageShape shape = ExamplesTable.shape(examples);
        List<String> classNames = ExamplesTable.classNames(examples);
        List<ComputationGraph> teachers = new ArrayList<>();
        dirs.values().forEach(dir -> teachers.add(Models.fromBytes(ctx.storage().readBytes(Storage.join(dir, Models.MODEL_FILE)), false)));
        CdfkdMfs method = new CdfkdMfs(settings, c.student().model(), shape, classNames.size(), c.distill().train(), teachers,
                settings.generatorWidths().stream().mapToInt(Integer::intValue).toArray());
        ComputationGraph graph = method.trainingGraph();
        log.info("student {} (data-free, {}): {} teachers {}, {} headers; {} parameters in the training graph, {} in the deployed student; heads {}; {}",
                c.student().name(), method, dirs.size(), dirs.keySet(), method.headers(), graph.numParams(), method.student(graph).numParams(),
                method.outputs(), Nd4jRuntime.describe(graph));
        int workers = c.distill().train().workers() > 0 ? c.distill().train().workers() : ctx.sc().defaultParallelism();
        NoiseBatches batches = new NoiseBatches(ctx.sc(), settings.batchesPerEpoch(), c.distill().train().batchSize(), method.noiseLayout(),
                c.distill().train().seed(), workers);
        Dataset<Row> validation = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).equalTo("validation"))
                .select(ExamplesTable.ID, ExamplesTable.LABEL, ExamplesTable.IMAGE).persist(StorageLevel.MEMORY_AND_DISK());
        try {
            TrainingRun.Result result = new TrainingRun(ctx.sc(), ctx.storage(), out.staging(), "student " + c.student().name(), c.distill().train(),
                    HeadSchedule.none(), method::student).withLearningRate(method::setLearningRates)
                    .run(graph, batches, validation, shape, classNames.size(), ctx.resume() && out.resuming());
            Map<String, Object> properties = new LinkedHashMap<>();
            properties.put("methods", List.of(Map.of("name", "cdfkd-mfs", "settings", method.toString())));
            properties.put("teacher", c.teacher().name());
            properties.put("teachers", List.copyOf(dirs.keySet()));
            properties.put("training_images", 0);
            properties.put("teacher_columns", List.of());
            ComputationGraph student = method.student(result.graph());
            if (settings.attentionSamples() > 0) {
                HeaderAttentionStep.Result attention = attentionStep(ctx, method, student, shape, settings.attentionSamples());
                student = attention.student();
                properties.put("training_images", attention.trainSamples() + attention.heldOutSamples());
                properties.put("attention", Map.of("train_images", attention.trainSamples(), "held_out_images", attention.heldOutSamples(),
                        "held_out_accuracy_of_mean", attention.meanHeldOutAccuracy(), "held_out_accuracy", attention.heldOutAccuracy(),
                        "selected_epoch", attention.selectedEpoch()));
            }
            return TrainStage.commit(ctx, out, "student", c.student().name(), c.student().model(), shape, classNames,
                    student, result, properties, provenance, start);
        } finally {
            validation.unpersist();
        }
    }
}
