package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig.EvaluateSettings;
import io.distillery.data.ImageShape;
import io.distillery.jobs.report.Report;
import io.distillery.jobs.report.ReportWriter;
import io.distillery.model.Models;
import io.distillery.errors.BadInputException;
import io.distillery.onnx.OnnxExport;
import io.distillery.onnx.OnnxGraph;
import io.distillery.onnx.OnnxModels;
import io.distillery.onnx.OnnxTeacher;
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
    private static final String TEACHER = "teacher";

    private EvaluateStage() {
    }

    public static Report run(StageContext ctx) {
        long start = System.nanoTime();
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        // Keyed by role; an ensemble has one "teacher:NAME" per member (role "teacher" in the report).
        Map<String, String> dirs = new LinkedHashMap<>();
        if (ctx.config().ensemble()) {
            ctx.config().members().forEach(t -> dirs.put(TEACHER + ":" + t.name(), ctx.layout().teacher(t.name())));
        } else {
            dirs.put(TEACHER, ctx.layout().teacher());
        }
        dirs.put("student", ctx.layout().student());
        dirs.put("baseline", ctx.layout().baseline());
        Map<String, Manifest> models = new LinkedHashMap<>();
        Map<String, String> inputs = new LinkedHashMap<>();
        inputs.put("examples", examples.contentHash());
        for (var entry : dirs.entrySet()) {
            String stage = switch (role(entry.getKey())) {
                case TEACHER -> "teacher";
                case "student" -> "distill";
                default -> "distill --baseline";
            };
            Manifest m = ctx.require(entry.getValue(), stage);
            models.put(entry.getKey(), m);
            inputs.put(entry.getKey(), m.contentHash());
        }
        if (models.containsKey(TEACHER) && PrecomputeStage.isOnnx(models.get(TEACHER))) {
            inputs.put("teacher_onnx_input", ctx.config().section("teacher.onnx"));
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
        List<byte[]> members = new ArrayList<>();
        for (var entry : dirs.entrySet()) {
            String key = entry.getKey();
            String role = role(key);
            String dir = entry.getValue();
            if (PrecomputeStage.isOnnx(manifests.get(key))) {
                results.add(evaluateOnnx(ctx, role, dir, manifests.get(key), test, shape, e, threads));
                continue;
            }
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
                    manifests.get(key).properties().get("methods")));
            log.info("evaluate: {} test accuracy {} on {} images, {} parameters, {} images/s by batch size", key,
                    String.format("%.4f", acc.value()), acc.total(), graph.numParams(), speed);
            if (e.onnx()) {
                byte[] onnx = exportable(graph, shape, key);
                if (onnx != null) {
                    results.add(evaluateExport(ctx, results.get(results.size() - 1), onnx, test, shape, e, threads));
                }
            }
            if (!key.equals(role)) {
                members.add(bytes);
            }
        }
        if (members.size() > 1) {
            GraphEvaluator.Accuracy acc = SparkRuntime.described(ctx.spark(), "evaluate: the ensemble of " + members.size() + " teachers on the test split",
                    () -> GraphEvaluator.accuracy(ctx.sc(), members, test, shape, classes, 256));
            long params = results.stream().filter(r -> r.role().equals(TEACHER)).mapToLong(Report.ModelResult::parameters).sum();
            long fileBytes = results.stream().filter(r -> r.role().equals(TEACHER)).mapToLong(Report.ModelResult::modelBytes).sum();
            results.add(0, new Report.ModelResult(Report.ENSEMBLE, ctx.config().teacher().name(), acc.value(), acc.total(), params, fileBytes,
                    Map.of(), threads, 0, 0.0, "mean of the members' softmax probabilities"));
            log.info("evaluate: ensemble test accuracy {} on {} images ({} teachers, {} parameters)", String.format("%.4f", acc.value()),
                    acc.total(), members.size(), params);
        }
        return Report.of(examples, ctx.config(), results);
    }

    /**
     * The model exported to ONNX in memory, or null (with a warning) when it is outside the exporter's
     * mapping: the ONNX row is a check beside the DL4J row, not the product, so a multi-header
     * data-free student (merges, depthwise convolutions) gets no ONNX row rather than failing the stage.
     */
    private static byte[] exportable(ComputationGraph graph, ImageShape shape, String key) {
        try {
            return OnnxExport.toBytes(graph, shape, Map.of());
        } catch (BadInputException unsupported) {
            log.warn("evaluate.onnx: no ONNX Runtime row for {}: {}", key, unsupported.getMessage());
            return null;
        }
    }

    /**
     * evaluate.onnx: the DL4J model of row {@code dl4j} exported to ONNX in memory (the mapping
     * {@code distill export} writes), its test accuracy on the executors and images/s in ONNX Runtime
     * with the same threads, as row "{@code <role>}{@value Report#ONNX_RUNTIME}".
     */
    private static Report.ModelResult evaluateExport(StageContext ctx, Report.ModelResult dl4j, byte[] onnx, Dataset<Row> test,
                                                     ImageShape shape, EvaluateSettings e, int threads) {
        OnnxTeacher input = OnnxTeacher.forExport(shape);
        long[] acc = SparkRuntime.described(ctx.spark(), "evaluate: " + dl4j.role() + " " + dl4j.name() + " exported to ONNX, on the test split",
                () -> OnnxTeacherInference.accuracy(ctx.sc(), onnx, input, shape.pixelCount(), OnnxExport.LOGITS, test, 256));
        List<byte[]> images = test.select(ExamplesTable.IMAGE).limit(e.speedImages()).collectAsList().stream().map(r -> (byte[]) r.get(0)).toList();
        Map<Integer, Double> speed = new LinkedHashMap<>();
        try (OnnxModels.Runner runner = OnnxModels.open(onnx, threads)) {
            for (int batch : e.speedBatchSizes()) {
                speed.put(batch, OnnxTeacherInference.imagesPerSecond(runner, input, shape.pixelCount(), OnnxExport.LOGITS, images, batch, e.warmupBatches()));
            }
        }
        double accuracy = acc[1] == 0 ? 0 : (double) acc[0] / acc[1];
        long dl4jCorrect = Math.round(dl4j.testAccuracy() * dl4j.testImages());
        log.info("evaluate: {} {} exported to ONNX: test accuracy {} in ONNX Runtime ({} correct) against {} in DL4J ({} correct); {} images/s by batch size",
                dl4j.role(), dl4j.name(), String.format("%.4f", accuracy), acc[0], String.format("%.4f", dl4j.testAccuracy()), dl4jCorrect, speed);
        return new Report.ModelResult(dl4j.role() + Report.ONNX_RUNTIME, dl4j.name(), accuracy, acc[1], dl4j.parameters(), onnx.length, speed,
                threads, dl4j.epochs(), dl4j.trainSeconds(), dl4j.methods());
    }

    /** An imported ONNX teacher: test accuracy on the executors and images/s in ONNX Runtime with the same threads as DL4J here. */
    private static Report.ModelResult evaluateOnnx(StageContext ctx, String role, String dir, Manifest manifest, Dataset<Row> test,
                                                   ImageShape shape, EvaluateSettings e, int threads) {
        byte[] bytes = ctx.storage().readBytes(Storage.join(dir, OnnxTeacher.MODEL_FILE));
        String source = ctx.config().teacher().name();
        OnnxGraph graph = OnnxGraph.parse(bytes, source);
        String logits = TeacherStage.logitsOutput(graph, ctx.config().teacher().onnx().logitsOutput(), source);
        OnnxTeacher teacher = new OnnxTeacher(graph.inputName(), shape, ctx.config().teacher().onnx());
        long[] acc = onnxAccuracy(ctx, bytes, test, shape, "evaluate: " + role + " (ONNX) on the test split");
        List<byte[]> images = test.select(ExamplesTable.IMAGE).limit(e.speedImages()).collectAsList().stream().map(r -> (byte[]) r.get(0)).toList();
        Map<Integer, Double> speed = new LinkedHashMap<>();
        try (OnnxModels.Runner runner = OnnxModels.open(bytes, threads)) {
            for (int batch : e.speedBatchSizes()) {
                speed.put(batch, OnnxTeacherInference.imagesPerSecond(runner, teacher, shape.pixelCount(), logits, images, batch, e.warmupBatches()));
            }
        }
        double accuracy = acc[1] == 0 ? 0 : (double) acc[0] / acc[1];
        log.info("evaluate: {} (ONNX Runtime) test accuracy {} on {} images, {} parameters, {} images/s by batch size", role,
                String.format("%.4f", accuracy), acc[1], graph.parameters(), speed);
        return new Report.ModelResult(role, dir.substring(dir.lastIndexOf('/') + 1), accuracy, acc[1], graph.parameters(), bytes.length, speed,
                threads, 0, 0.0, manifest.properties().get("methods"));
    }

    /**
     * {correct, total} of the imported ONNX teacher stored as {@code onnxBytes} over (id, label, image)
     * rows, on the executors, fed as {@code teacher.onnx} says. For callers outside this stage (compare).
     */
    public static long[] onnxAccuracy(StageContext ctx, byte[] onnxBytes, Dataset<Row> test, ImageShape shape, String description) {
        String source = ctx.config().teacher().name();
        OnnxGraph graph = OnnxGraph.parse(onnxBytes, source);
        String logits = TeacherStage.logitsOutput(graph, ctx.config().teacher().onnx().logitsOutput(), source);
        OnnxTeacher teacher = new OnnxTeacher(graph.inputName(), shape, ctx.config().teacher().onnx());
        return SparkRuntime.described(ctx.spark(), description,
                () -> OnnxTeacherInference.accuracy(ctx.sc(), onnxBytes, teacher, shape.pixelCount(), logits, test, 256));
    }

    /** The report role of a {@code dirs} key: "teacher:NAME" is a teacher. */
    private static String role(String key) {
        return key.startsWith(TEACHER + ":") ? TEACHER : key;
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
