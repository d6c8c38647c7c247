package io.distillery.jobs.compare;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import io.distillery.data.ImageShape;
import io.distillery.jobs.stages.Pipeline;
import io.distillery.jobs.stages.PrecomputeStage;
import io.distillery.jobs.stages.StageContext;
import io.distillery.jobs.stages.TeacherStage;
import io.distillery.model.Models;
import io.distillery.prep.PrepJob;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import io.distillery.train.Checkpoints;
import io.distillery.train.EpochMetrics;
import io.distillery.train.GraphEvaluator;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.apache.spark.sql.functions.col;

/**
 * Runs a {@link ComparisonPlan} over one pipeline: prep, teacher and precompute once (the pipeline's
 * {@code precompute.taps} must hold every tap a row reads), then each row once per seed as its own
 * student ({@code students/<row id>-s<seed>/}), each measured on the test split. Finished students
 * with the same provenance are reused, so an interrupted comparison continues where it stopped.
 * Writes {@code reports/methods.json} and {@code reports/methods.md} under the run directory.
 */
public final class MethodComparison {
    private static final Logger log = LoggerFactory.getLogger(MethodComparison.class);
    public static final String JSON = "methods.json";
    public static final String MARKDOWN = "methods.md";

    /** One trained student: test accuracy of the kept (best-validation) epoch, and how it trained. */
    public record SeedResult(long seed, double testAccuracy, int selectedEpoch, int epochs, double bestValidation, double lastValidation,
                             double secondsPerEpoch, long parameters, long teacherBytes, List<String> teacherColumns) {
    }

    /** A row over its seeds: test accuracy mean and sample standard deviation (0 for one seed). The teacher row has one "seed". */
    public record RowResult(String name, String id, String methods, double testAccuracyMean, double testAccuracyStd, List<SeedResult> seeds) {
        static RowResult of(String name, String id, String methods, List<SeedResult> seeds) {
            double mean = seeds.stream().mapToDouble(SeedResult::testAccuracy).average().orElse(Double.NaN);
            double var = seeds.size() < 2 ? 0
                    : seeds.stream().mapToDouble(s -> (s.testAccuracy() - mean) * (s.testAccuracy() - mean)).sum() / (seeds.size() - 1);
            return new RowResult(name, id, methods, mean, Math.sqrt(var), seeds);
        }
    }

    public record Result(String title, String dataset, long trainingExamples, long testExamples, List<Long> seeds, List<RowResult> rows) {
    }

    private MethodComparison() {
    }

    public static Result run(SparkSession spark, File pipelineFile, List<String> sets, ComparisonPlan plan) {
        PipelineConfig base = ConfigLoader.load(pipelineFile, null, sets);
        // Every row's config must parse before hours of training start.
        for (ComparisonPlan.Row row : plan.rows()) {
            rowConfig(pipelineFile, sets, row, plan.seeds().get(0));
        }
        StageContext ctx = StageContext.of(spark, base, false, false);
        PrepJob.run(spark, ctx.storage(), base, ctx.layout().examples(), false);
        TeacherStage.run(ctx);
        PrecomputeStage.run(ctx);
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        ImageShape shape = ExamplesTable.shape(examples);
        int classes = ExamplesTable.classNames(examples).size();
        Dataset<Row> test = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).equalTo("test"))
                .select(ExamplesTable.ID, ExamplesTable.LABEL, ExamplesTable.IMAGE).cache();
        Map<String, Long> columnBytes = ParquetColumnBytes.of(spark.sparkContext().hadoopConfiguration(), ctx.layout().teacherOutputs());
        try {
            List<RowResult> rows = new ArrayList<>();
            rows.addAll(teacherRows(ctx, base, test, shape, classes));
            for (ComparisonPlan.Row row : plan.rows()) {
                List<SeedResult> seeds = new ArrayList<>();
                String methods = "";
                for (long seed : row.seedsOr(plan.seeds())) {
                    StageContext rowCtx = StageContext.of(spark, rowConfig(pipelineFile, sets, row, seed), false, false);
                    log.info("compare: row '{}' seed {}", row.name(), seed);
                    Manifest m = row.baseline() ? Pipeline.baseline(rowCtx) : Pipeline.student(rowCtx);
                    String dir = row.baseline() ? rowCtx.layout().baseline() : rowCtx.layout().student();
                    seeds.add(seedResult(rowCtx, dir, m, seed, testAccuracy(rowCtx, dir, test, shape, classes), columnBytes));
                    methods = String.valueOf(m.properties().get("methods"));
                }
                RowResult r = RowResult.of(row.name(), row.id(), methods, seeds);
                log.info("compare: {}: test accuracy {} ± {} over {} seeds", row.name(), String.format("%.4f", r.testAccuracyMean()),
                        String.format("%.4f", r.testAccuracyStd()), seeds.size());
                rows.add(r);
            }
            long trainCount = ctx.table(ctx.layout().examples()).filter(col(ExamplesTable.SPLIT).equalTo("train")).count();
            Result result = new Result(plan.title(), base.data().name(), trainCount, test.count(), plan.seeds(), rows);
            String reports = ctx.layout().reports();
            ctx.storage().writeString(Storage.join(reports, JSON), Json.pretty(result));
            ctx.storage().writeString(Storage.join(reports, MARKDOWN), ComparisonTable.markdown(result));
            log.info("compare: wrote {} and {} under {}", JSON, MARKDOWN, reports);
            return result;
        } finally {
            test.unpersist();
        }
    }

    /** One row per teacher (one "seed"), and with an ensemble one more for the ensemble as a classifier. */
    private static List<RowResult> teacherRows(StageContext ctx, PipelineConfig base, Dataset<Row> test, ImageShape shape, int classes) {
        List<RowResult> rows = new ArrayList<>();
        List<String> names = base.ensemble() ? base.members().stream().map(PipelineConfig.TeacherSettings::name).toList()
                : List.of(base.teacher().name());
        List<byte[]> models = new ArrayList<>();
        long parameters = 0;
        for (String name : names) {
            String dir = base.ensemble() ? ctx.layout().teacher(name) : ctx.layout().teacher();
            Manifest teacher = ctx.require(dir, "teacher");
            long p = ((Number) teacher.properties().get("parameters")).longValue();
            parameters += p;
            rows.add(RowResult.of("teacher (" + name + ")", base.ensemble() ? "teacher-" + name : "teacher", "-",
                    List.of(new SeedResult(0, testAccuracy(ctx, dir, test, shape, classes), 0, 0, Double.NaN, Double.NaN, Double.NaN, p, 0, List.of()))));
            if (base.ensemble()) {
                models.add(ctx.storage().readBytes(Storage.join(dir, Models.MODEL_FILE)));
            }
        }
        if (base.ensemble()) {
            double accuracy = SparkRuntime.described(ctx.spark(), "compare: the ensemble on the test split",
                    () -> GraphEvaluator.accuracy(ctx.sc(), models, test, shape, classes, 256)).value();
            rows.add(RowResult.of("ensemble of " + names.size() + " (mean softmax)", "ensemble", "-",
                    List.of(new SeedResult(0, accuracy, 0, 0, Double.NaN, Double.NaN, Double.NaN, parameters, 0, List.of()))));
        }
        return rows;
    }

    /** The pipeline config with a row's overrides, its seed, and a student name of its own. */
    static PipelineConfig rowConfig(File pipelineFile, List<String> sets, ComparisonPlan.Row row, long seed) {
        List<String> all = new ArrayList<>(sets);
        all.addAll(row.sets());
        all.add("distill.train.seed=" + seed);
        all.add("student.name=" + row.id() + "-s" + seed);
        return ConfigLoader.load(pipelineFile, null, all);
    }

    private static double testAccuracy(StageContext ctx, String modelDir, Dataset<Row> test, ImageShape shape, int classes) {
        String onnx = Storage.join(modelDir, io.distillery.onnx.OnnxTeacher.MODEL_FILE);
        if (modelDir.equals(ctx.layout().teacher()) && PrecomputeStage.isOnnx(Manifest.read(ctx.storage(), modelDir))) {
            // An imported ONNX teacher runs in ONNX Runtime (a DL4J teacher's exported model.onnx does not count).
            long[] acc = io.distillery.jobs.stages.EvaluateStage.onnxAccuracy(ctx, ctx.storage().readBytes(onnx), test, shape,
                    "compare: " + modelDir + " (ONNX) on the test split");
            return acc[1] == 0 ? 0 : (double) acc[0] / acc[1];
        }
        byte[] model = ctx.storage().readBytes(Storage.join(modelDir, Models.MODEL_FILE));
        return SparkRuntime.described(ctx.spark(), "compare: " + modelDir + " on the test split",
                () -> GraphEvaluator.accuracy(ctx.sc(), model, test, shape, classes, 256)).value();
    }

    @SuppressWarnings("unchecked")
    private static SeedResult seedResult(StageContext ctx, String dir, Manifest m, long seed, double testAccuracy, Map<String, Long> columnBytes) {
        List<EpochMetrics> metrics = Checkpoints.readMetrics(ctx.storage(), dir);
        Map<String, Object> p = m.properties();
        int selected = ((Number) p.get("selected_epoch")).intValue();
        double best = metrics.stream().filter(e -> e.epoch() == selected).mapToDouble(EpochMetrics::validationAccuracy).findFirst().orElse(Double.NaN);
        double last = metrics.isEmpty() ? Double.NaN : metrics.get(metrics.size() - 1).validationAccuracy();
        double seconds = metrics.stream().mapToDouble(EpochMetrics::seconds).average().orElse(Double.NaN);
        List<String> columns = (List<String>) p.getOrDefault("teacher_columns", List.of());
        long bytes = columns.stream().mapToLong(c -> columnBytes.getOrDefault(c, 0L)).sum();
        return new SeedResult(seed, testAccuracy, selected, metrics.size(), best, last, seconds, ((Number) p.get("parameters")).longValue(),
                bytes, columns);
    }

    /** Row results by id, for callers that compare two rows. */
    public static Map<String, RowResult> byId(Result result) {
        Map<String, RowResult> map = new LinkedHashMap<>();
        result.rows().forEach(r -> map.put(r.id(), r));
        return map;
    }
}
