package io.distillery.jobs.bench;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import io.distillery.config.PipelineConfig.PrecomputeSettings;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.jobs.stages.PrecomputeStage;
import io.distillery.jobs.stages.StageContext;
import io.distillery.jobs.stages.TeacherStage;
import io.distillery.jobs.stages.TrainStage;
import io.distillery.layer.FusedBatchNormHelper;
import io.distillery.method.DistillationGraph;
import io.distillery.method.DistillationMethod;
import io.distillery.method.LabelSource;
import io.distillery.method.StudentGraphs;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.ModelZoo;
import io.distillery.model.Models;
import io.distillery.onnx.OnnxExport;
import io.distillery.onnx.OnnxModels;
import io.distillery.prep.PrepJob;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.runtime.SparkRuntime;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.train.BatchAssembler;
import io.distillery.train.RowBatches;
import io.distillery.train.SparkGraphTrainer;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Side-by-side speed of the two Spark stages against plain single-JVM DL4J on the same data and
 * machine, run by {@code bench/run.sh} as two phases: {@code spark} (Spark local mode, one OpenMP
 * thread per task, as Distillery runs) measures precompute images/s and a distill epoch;
 * {@code plain} (a fresh JVM whose OpenMP uses every core) measures the same teacher's
 * {@code output()} over the same images and {@code ComputationGraph.fit} over the same batches,
 * then prints the table. Speed does not depend on weights, so the teacher is a freshly initialised
 * copy of the demo architecture. Further arguments are {@code --set}-style overrides of the demo config.
 * Each phase also leaves its numbers in the work directory ({@value #RESULTS}, {@value #PLAIN_RESULTS}),
 * where {@code bench/peer.sh} reads them; the Spark phase adds the same student on labels alone and on
 * {@value #VIEWS} stored augmented views per image. Each student trains {@value #EPOCHS} epochs and the
 * second is reported: the first also compiles the training path in this JVM (its time is kept too).
 */
public final class DistillBenchmark {
    private static final String RESULTS = "spark-results.json";
    private static final String PLAIN_RESULTS = "plain-results.json";
    /** Epochs per student: the second is the one reported, the first warms the JVM up. */
    private static final int EPOCHS = 2;
    /** Stored augmented views per image in the views run: the augmented comparison of bench/peer.sh. */
    private static final int VIEWS = 4;

    private DistillBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || !List.of("spark", "plain").contains(args[0])) {
            System.err.println("usage: DistillBenchmark spark|plain WORK_DIR [key=value...]");
            System.exit(2);
        }
        Nd4jRuntime.configure();
        Path dir = Path.of(args[1]);
        List<String> sets = new ArrayList<>(List.of("run-dir=" + dir.resolve("run"), "teacher.import=" + dir.resolve("teacher.zip")));
        sets.addAll(Arrays.asList(args).subList(2, args.length));
        // After the overrides: the reported epoch is the second, so an override of the epochs would leave it unmeasured.
        sets.add("distill.train.epochs=" + EPOCHS);
        PipelineConfig config = ConfigLoader.load(null, "demo/fashion-mnist.conf", sets);
        SparkSession spark = SparkRuntime.session(config.spark(), args[0].equals("plain") ? "local[1]" : null);
        try {
            if (args[0].equals("spark")) {
                // Each engine named explicitly: the demo config itself precomputes in ONNX Runtime.
                List<String> views = new ArrayList<>(sets);
                views.add("precompute.views=" + VIEWS);
                sparkPhase(engineContext(spark, sets, PrecomputeSettings.DL4J), engineContext(spark, sets, PrecomputeSettings.ONNX_RUNTIME),
                        engineContext(spark, views, PrecomputeSettings.ONNX_RUNTIME), dir);
            } else {
                plainPhase(StageContext.of(spark, config, true, false), dir);
            }
        } finally {
            spark.stop();
        }
    }

    private static StageContext engineContext(SparkSession spark, List<String> sets, String engine) {
        List<String> withEngine = new ArrayList<>(sets);
        withEngine.add("precompute.engine=" + engine);
        return StageContext.of(spark, ConfigLoader.load(null, "demo/fashion-mnist.conf", withEngine), true, false);
    }

    /**
     * Precompute with each engine ({@code ctx}: precompute.engine = dl4j, {@code ortCtx}: onnxruntime), and with
     * {@value #VIEWS} stored augmented views ({@code ortCtx}'s engine); then two epochs of the student on the views,
     * on the plain teacher outputs, and on labels alone.
     */
    private static void sparkPhase(StageContext ctx, StageContext ortCtx, StageContext viewsCtx, Path dir) throws Exception {
        PipelineConfig config = ctx.config();
        Manifest examples = PrepJob.run(ctx.spark(), ctx.storage(), config, ctx.layout().examples(), true);
        ImageShape shape = ExamplesTable.shape(examples);
        int classes = ExamplesTable.classNames(examples).size();
        ComputationGraph teacher = new ComputationGraph(ModelZoo.classifier(config.teacher().model(), shape, classes, config.teacher().train()));
        teacher.init();
        Models.write(ctx.storage(), dir.resolve("teacher.zip").toString(), teacher, false);
        TeacherStage.run(ctx);
        List<DistillationMethod> methods = StudentGraphs.methods(config.distill(), classes);

        long start = System.nanoTime();
        Manifest ortOutputs = PrecomputeStage.run(ortCtx);
        double precomputeOrt = ortOutputs.rows() / ((System.nanoTime() - start) / 1e9);
        start = System.nanoTime();
        Manifest viewOutputs = PrecomputeStage.run(viewsCtx);
        double precomputeViews = viewOutputs.rows() / ((System.nanoTime() - start) / 1e9);
        double[] viewsEpochs = sparkEpochs(viewsCtx, student(viewsCtx, viewOutputs, shape, classes, methods));
        start = System.nanoTime();
        Manifest outputs = PrecomputeStage.run(ctx); // DL4J last: its table is the one the plain phase reads
        double precompute = outputs.rows() / ((System.nanoTime() - start) / 1e9);

        Student s = student(ctx, outputs, shape, classes, methods);
        double[] distillEpochs = sparkEpochs(ctx, s);
        // The same student on labels alone (the baseline's graph): no teacher columns joined or read.
        Student labels = student(ctx, outputs, shape, classes, StudentGraphs.labelsOnly(classes));
        double[] labelsEpochs = sparkEpochs(ctx, labels);

        Map<String, Object> results = new LinkedHashMap<>();
        results.put("master", ctx.spark().sparkContext().master());
        results.put("workers", new SparkGraphTrainer(ctx.sc(), s.train, "bench").workers());
        results.put("openmp_threads", Nd4jRuntime.threads());
        results.put("train_rows", s.examples());
        results.put("teacher_parameters", teacher.numParams());
        results.put("student_parameters", labels.graph.newGraph().numParams());
        results.put("views", VIEWS);
        results.put("precompute_images_per_second", precompute);
        results.put("precompute_onnxruntime_images_per_second", precomputeOrt);
        results.put("precompute_views_images_per_second", precomputeViews);
        // Each student's second epoch: the first also compiles the training path in this JVM.
        results.put("distill_epoch_seconds", distillEpochs[1]);
        results.put("student_labels_epoch_seconds", labelsEpochs[1]);
        results.put("views_distill_epoch_seconds", viewsEpochs[1]);
        results.put("distill_first_epoch_seconds", distillEpochs[0]);
        results.put("student_labels_first_epoch_seconds", labelsEpochs[0]);
        results.put("views_distill_first_epoch_seconds", viewsEpochs[0]);
        Files.writeString(dir.resolve(RESULTS), Json.pretty(results));
    }

    /** Seconds of each of the {@value #EPOCHS} Spark parameter-averaging epochs of a freshly initialised {@code s}. */
    private static double[] sparkEpochs(StageContext ctx, Student s) {
        double[] seconds = new double[EPOCHS];
        new SparkGraphTrainer(ctx.sc(), s.train, "bench").fit(s.graph.newGraph(), new RowBatches(s.rows, s.rowCount, s.assembler, s.train.seed(),
                s.views, null), 0, (g, r) -> seconds[r.epoch() - 1] = r.seconds());
        s.rows.unpersist();
        return seconds;
    }

    private static void plainPhase(StageContext ctx, Path dir) throws Exception {
        PipelineConfig config = ctx.config();
        Manifest examples = ctx.require(ctx.layout().examples(), "prep");
        Manifest outputs = ctx.require(ctx.layout().teacherOutputs(), "precompute");
        ImageShape shape = ExamplesTable.shape(examples);
        int classes = ExamplesTable.classNames(examples).size();
        // Collecting is for the benchmark only: the plain side must not count reading or decoding.
        List<MultiDataSet> images = ctx.table(ctx.layout().examples()).filter("split = 'train'")
                .select(ExamplesTable.ID, ExamplesTable.LABEL, ExamplesTable.IMAGE).javaRDD()
                .mapPartitions(new BatchAssembler(shape, List.of(new LabelSource.ClassLabels(classes)), config.precompute().batchSize())::batches)
                .collect();
        ComputationGraph teacher = Models.read(ctx.storage(), dir.resolve("teacher.zip").toString(), false);
        for (int i = 0; i < Math.min(3, images.size()); i++) {
            teacher.output(false, images.get(i).getFeatures(0));
        }
        long n = 0;
        long start = System.nanoTime();
        for (MultiDataSet b : images) {
            teacher.output(false, b.getFeatures(0));
            n += b.getFeatures(0).size(0);
        }
        double output = n / ((System.nanoTime() - start) / 1e9);
        double ortOutput = onnxRuntimeSpeed(teacher, shape, images);

        Student s = student(ctx, outputs, shape, classes, StudentGraphs.methods(config.distill(), classes));
        List<MultiDataSet> batches = s.rows.javaRDD().mapPartitions(s.assembler::batches).collect();
        ComputationGraph graph = new ComputationGraph(s.graph.build());
        graph.init();
        FusedBatchNormHelper.install(graph);   // as the Spark workers train
        start = System.nanoTime();
        for (MultiDataSet mds : batches) {
            graph.fit(mds);
        }
        double fit = (System.nanoTime() - start) / 1e9;
        Map<String, Object> plain = new LinkedHashMap<>();
        plain.put("openmp_threads", Nd4jRuntime.threads());
        plain.put("output_images_per_second", output);
        plain.put("onnxruntime_output_images_per_second", ortOutput);
        plain.put("fit_epoch_seconds", fit);
        Files.writeString(dir.resolve(PLAIN_RESULTS), Json.pretty(plain));

        var spark = Json.tree(Files.readString(dir.resolve(RESULTS)));
        double precompute = spark.get("precompute_images_per_second").asDouble();
        double precomputeOrt = spark.get("precompute_onnxruntime_images_per_second").asDouble();
        double epoch = spark.get("distill_epoch_seconds").asDouble();
        TrainSettings train = s.train;
        System.out.println();
        System.out.printf("Distillery benchmark: %,d training images of %s, %d cores; %s%n", spark.get("train_rows").asLong(),
                config.data().name(), Runtime.getRuntime().availableProcessors(), Nd4jRuntime.describe(teacher).replaceAll(", OpenMP.*", ""));
        System.out.printf("Spark: %s, %d workers, %d OpenMP thread(s) per task. Plain: one JVM, %d OpenMP threads.%n",
                spark.get("master").asText(), spark.get("workers").asInt(), spark.get("openmp_threads").asInt(), Nd4jRuntime.threads());
        System.out.printf("Teacher %s %s/%s (%,d parameters), batch %d, taps %s as %s. Student %s %s/%s %s, batch %d, averaging every %d minibatches.%n%n",
                config.teacher().model().architecture(), config.teacher().model().widths(), config.teacher().model().blocks(), teacher.numParams(),
                config.precompute().batchSize(), config.precompute().taps(), config.precompute().tapEncoding(), config.student().model().architecture(),
                config.student().model().widths(), config.student().model().blocks(), config.student().model().head(), train.batchSize(),
                train.averagingFrequency());
        System.out.println("| measurement | Spark stage | plain single JVM | Spark / plain |");
        System.out.println("|---|---:|---:|---:|");
        System.out.printf("| precompute, engine dl4j, images/s (Spark: inference + encoding + Parquet write + verification; plain: DL4J output() only) | %,.0f | %,.0f | %.2f |%n",
                precompute, output, precompute / output);
        System.out.printf("| precompute, engine onnxruntime, images/s (same; plain: DL4J output() only) | %,.0f | %,.0f | %.2f |%n",
                precomputeOrt, output, precomputeOrt / output);
        System.out.printf("| precompute, engine onnxruntime, images/s (same; plain: the same export in ONNX Runtime, %d intra-op threads, forward only) | %,.0f | %,.0f | %.2f |%n",
                Runtime.getRuntime().availableProcessors(), precomputeOrt, ortOutput, precomputeOrt / ortOutput);
        System.out.printf("| distill, seconds per epoch (Spark: parameter averaging; plain: ComputationGraph.fit, same batches) | %.1f | %.1f | %.2f |%n",
                epoch, fit, epoch / fit);
        System.out.printf("%nimages/s: higher is better; seconds: lower is better. Work files: %s%n", dir);
    }

    /** Images/s of the teacher's ONNX export in ONNX Runtime (one session, every core) over the same batches, after 3 warm-up batches. */
    private static double onnxRuntimeSpeed(ComputationGraph teacher, ImageShape shape, List<MultiDataSet> images) {
        try (OnnxModels.Runner runner = OnnxModels.open(OnnxExport.toBytes(teacher, shape, Map.of()), Runtime.getRuntime().availableProcessors())) {
            for (int i = 0; i < Math.min(3, images.size()); i++) {
                runner.run(images.get(i).getFeatures(0), OnnxExport.LOGITS);
            }
            long n = 0;
            long start = System.nanoTime();
            for (MultiDataSet b : images) {
                runner.run(b.getFeatures(0), OnnxExport.LOGITS);
                n += b.getFeatures(0).size(0);
            }
            return n / ((System.nanoTime() - start) / 1e9);
        }
    }

    /** A student's training rows: {@code rowCount} of them, {@code views} per example (0: plain images, one row each). */
    private record Student(TrainSettings train, DistillationGraph graph, Dataset<Row> rows, long rowCount, int views, BatchAssembler assembler) {
        long examples() {
            return views > 0 ? rowCount / views : rowCount;
        }
    }

    /** The demo's student with {@code methods} (distillation, or labels only) and its training rows, built the way the distill stage builds them. */
    private static Student student(StageContext ctx, Manifest outputs, ImageShape shape, int classes, List<DistillationMethod> methods) {
        PipelineConfig config = ctx.config();
        TrainSettings train = config.distill().train();
        TeacherOutputs teacherOutputs = new TeacherOutputs(ctx.layout().teacherOutputs(), outputs);
        DistillationGraph graph = StudentGraphs.build(config.student().model(), shape, classes, train, methods, teacherOutputs);
        TrainStage.Job job = new TrainStage.Job("student", "bench", ctx.layout().student(), config.student().model(), train, methods,
                ctx.layout().teacherOutputs(), Map.of());
        Dataset<Row> rows = TrainStage.trainingRows(ctx, job, graph.labels());
        return new Student(train, graph, rows, rows.count(), TeacherOutputsTable.storedViews(outputs), new BatchAssembler(shape, graph.labels(), train.batchSize()));
    }
}
