package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig.EvaluateSettings;
import io.distillery.data.ImageShape;
import io.distillery.jobs.report.Report;
import io.distillery.jobs.report.ReportWriter;
import io.distillery.model.Models;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import io.distillery.table.Provenance;
import io.distillery.table.StagedOutput;
import io.distillery.train.Checkpoints;
import io.distillery.train.EpochMetrics;
import io.distillery.train.GraphEvaluator;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
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
 * The evaluate stage: teacher, distilled student and baseline on the test split. Accuracy is
 * computed on the executors; parameter count and file size come from the models; inference speed
 * is timed in this JVM at each configured batch size, after warm-up, all models in the same run.
 * Like every stage it is skipped when its inputs (the three models, the examples) and config are
 * unchanged, and replaces an existing report only with --force.
 */
public final class EvaluateStage {
    private static final Logger log = LoggerFactory.getLogger(EvaluateStage.class);
    static final String REPORT = "report.json";

    private EvaluateStage() {
    }

    public static Report run(StageContext ctx) {
        long start = System.nanoTime();
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        Map<String, String> dirs = new LinkedHashMap<>();
        dirs.put("teacher", ctx.layout().teacher());
        dirs.put("student", ctx.layout().student());
        dirs.put("baseline", ctx.layout().baseline());
        Map<String, Manifest> models = new LinkedHashMap<>();
        Map<String, String> inputs = new LinkedHashMap<>();
        inputs.put("examples", examples.contentHash());
        for (var entry : dirs.entrySet()) {
            String stage = switch (entry.getKey()) {
                case "teacher" -> "teacher";
                case "student" -> "distill";
                default -> "distill --baseline";
            };
            Manifest m = ctx.require(entry.getValue(), stage);
            models.put(entry.getKey(), m);
            inputs.put(entry.getKey(), m.contentHash());
        }
        Provenance provenance = Provenance.of("evaluate", ctx.config().section("evaluate"), inputs);
        StagedOutput out = StagedOutput.open(ctx.storage(), ctx.layout().reports(), provenance, ctx.force(), false);
        String reportPath = Storage.join(ctx.layout().reports(), REPORT);
        if (out.upToDate()) {
            log.info("evaluate: {} is up to date (same models, examples and config), skipping", ctx.layout().reports());
            return Json.read(ctx.storage().readString(reportPath), Report.class, reportPath);
        }
        try {
            Report report = evaluate(ctx, examples, dirs, models);
            ReportWriter.write(ctx.storage(), out.staging(), report, curves(ctx, dirs));
            String hash = ctx.storage().sha256(Storage.join(out.staging(), REPORT));
            out.commit(new Manifest("report", Manifest.FORMAT_VERSION, report.models().size(), hash, List.of(),
                    Map.of("files", ctx.storage().list(out.staging()).stream().filter(f -> !f.startsWith("_")).toList()), provenance));
            log.info("evaluate: wrote {} in {} s", ctx.layout().reports(), String.format("%.1f", (System.nanoTime() - start) / 1e9));
            return report;
        } catch (RuntimeException e) {
            out.abandon();
            throw e;
        }
    }

    private static Report evaluate(StageContext ctx, Manifest examples, Map<String, String> dirs, Map<String, Manifest> manifests) {
        ImageShape shape = ExamplesTable.shape(examples);
        int classes = ExamplesTable.classNames(examples).size();
        Dataset<Row> test = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).equalTo("test"))
                .select(ExamplesTable.ID, ExamplesTable.LABEL, ExamplesTable.IMAGE);
        EvaluateSettings e = ctx.config().evaluate();
        INDArray speedImages = speedImages(test, shape, e.speedImages());
        int threads = Nd4jRuntime.threads();
        List<Report.ModelResult> results = new ArrayList<>();
        for (var entry : dirs.entrySet()) {
            String role = entry.getKey();
            String dir = entry.getValue();
            String modelPath = Storage.join(dir, Models.MODEL_FILE);
            byte[] bytes = ctx.storage().readBytes(modelPath);
            ComputationGraph graph = Models.fromBytes(bytes, false);
            GraphEvaluator.Accuracy acc = SparkRuntime.described(ctx.spark(), "evaluate: " + role + " on the test split",
                    () -> GraphEvaluator.accuracy(ctx.sc(), bytes, test, shape, classes, 256));
            Map<Integer, Double> speed = new LinkedHashMap<>();
            for (int batch : e.speedBatchSizes()) {
                speed.put(batch, InferenceTimer.imagesPerSecond(graph, speedImages, batch, e.warmupBatches()));
            }
            List<EpochMetrics> metrics = Checkpoints.readMetrics(ctx.storage(), dir);
            results.add(new Report.ModelResult(role, dir.substring(dir.lastIndexOf('/') + 1), acc.value(), acc.total(), graph.numParams(),
                    bytes.length, speed, threads, metrics.size(), metrics.stream().mapToDouble(EpochMetrics::seconds).sum(),
                    manifests.get(role).properties().get("methods")));
            log.info("evaluate: {} test accuracy {} on {} images, {} parameters, {} images/s by batch size", role,
                    String.format("%.4f", acc.value()), acc.total(), graph.numParams(), speed);
        }
        return Report.of(examples, ctx.config(), results);
    }

    private static Map<String, List<EpochMetrics>> curves(StageContext ctx, Map<String, String> dirs) {
        Map<String, List<EpochMetrics>> curves = new LinkedHashMap<>();
        dirs.forEach((role, dir) -> curves.put(role, Checkpoints.readMetrics(ctx.storage(), dir)));
        return curves;
    }

    /** A bounded sample of test images for timing: at most {@code n}, never the whole split. */
    private static INDArray speedImages(Dataset<Row> test, ImageShape shape, int n) {
        List<Row> rows = test.limit(n).collectAsList();
        float[] data = new float[rows.size() * shape.pixelCount()];
        for (int i = 0; i < rows.size(); i++) {
            ExamplesTable.toChw(rows.get(i).getAs(ExamplesTable.IMAGE), shape, data, i * shape.pixelCount());
        }
        return Nd4j.create(data, new long[]{rows.size(), shape.channels(), shape.height(), shape.width()}, 'c');
    }
}
