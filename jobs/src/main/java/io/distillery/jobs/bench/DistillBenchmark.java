package io.distillery.jobs.bench;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.jobs.stages.PrecomputeStage;
import io.distillery.jobs.stages.StageContext;
import io.distillery.jobs.stages.TeacherStage;
import io.distillery.jobs.stages.TrainStage;
import io.distillery.method.DistillationGraph;
import io.distillery.method.StudentGraphs;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.ModelZoo;
import io.distillery.model.Models;
import io.distillery.prep.PrepJob;
import io.distillery.runtime.Nd4jRuntime;
import io.distillery.runtime.SparkRuntime;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;
import io.distillery.train.BatchAssembler;
import io.distillery.train.RowBatches;
import io.distillery.train.SparkGraphTrainer;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Side-by-side speed of the two Spark stages against plain single-JVM DL4J on the same data, in one
 * run: precompute images/s against {@code output()} images/s of the same teacher, and one distill
 * epoch (parameter averaging) against {@code ComputationGraph.fit} on the same batches. Speed does
 * not depend on weights, so the teacher is a freshly initialised copy of the demo architecture.
 * Arguments are {@code --set key=value} overrides of the demo config.
 */
public final class DistillBenchmark {
    private DistillBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Nd4jRuntime.configure();
        Path dir = Files.createTempDirectory("distillery-bench");
        List<String> sets = new ArrayList<>(List.of("run-dir=" + dir.resolve("run"), "data.limit=10000",
                "teacher.import=" + dir.resolve("teacher.zip"), "distill.train.epochs=1"));
        sets.addAll(Arrays.asList(args));
        PipelineConfig config = ConfigLoader.load(null, "demo/fashion-mnist.conf", sets);
        SparkSession spark = SparkRuntime.session(config.spark(), null);
        try {
            StageContext ctx = StageContext.of(spark, config, true, false);
            Manifest examples = PrepJob.run(spark, ctx.storage(), config, ctx.layout().examples(), true);
            ImageShape shape = ExamplesTable.shape(examples);
            int classes = ExamplesTable.classNames(examples).size();
            ComputationGraph teacher = new ComputationGraph(ModelZoo.classifier(config.teacher().model(), shape, classes, config.teacher().train()));
            teacher.init();
            Models.write(ctx.storage(), dir.resolve("teacher.zip").toString(), teacher, false);
            TeacherStage.run(ctx);

            long t0 = System.nanoTime();
            Manifest outputs = PrecomputeStage.run(ctx);
            double sparkPrecompute = outputs.rows() / ((System.nanoTime() - t0) / 1e9);
            List<MultiDataSet> images = trainBatches(ctx, shape, classes, config.precompute().batchSize());
            double plainOutput = plainInference(teacher, images);

            TrainSettings train = config.distill().train();
            var methods = StudentGraphs.methods(config.distill(), classes);
            TeacherOutputs teacherOutputs = new TeacherOutputs(ctx.layout().teacherOutputs(), outputs);
            DistillationGraph spec = StudentGraphs.build(config.student().model(), shape, classes, train, methods, teacherOutputs);
            TrainStage.Job job = new TrainStage.Job("student", "bench", ctx.layout().student(), config.student().model(), train, methods,
                    ctx.layout().teacherOutputs(), java.util.Map.of());
            Dataset<Row> rows = TrainStage.trainingRows(ctx, job, spec.labels());
            long count = rows.count();
            BatchAssembler assembler = new BatchAssembler(shape, spec.labels(), train.batchSize(), train.threadsPerWorker());
            ComputationGraph sparkStudent = new ComputationGraph(spec.build());
            sparkStudent.init();
            double[] sparkEpoch = new double[1];
            Nd4jRuntime.limitThreads(train.threadsPerWorker());
            new SparkGraphTrainer(ctx.sc(), train, "bench").fit(sparkStudent, new RowBatches(rows, count, assembler, train.seed()), 0,
                    (g, r) -> sparkEpoch[0] = r.seconds());

            // The same rows, as the same batches, fitted by one JVM with ND4J's default threads.
            List<MultiDataSet> batches = rows.javaRDD().mapPartitions(assembler::batches).collect();
            Nd4jRuntime.limitThreads(Runtime.getRuntime().availableProcessors());
            ComputationGraph plainStudent = new ComputationGraph(StudentGraphs.build(config.student().model(), shape, classes, train, methods,
                    teacherOutputs).build());
            plainStudent.init();
            long t1 = System.nanoTime();
            for (MultiDataSet mds : batches) {
                plainStudent.fit(mds);
            }
            double plainEpoch = (System.nanoTime() - t1) / 1e9;

            String master = spark.sparkContext().master();
            System.out.println();
            System.out.printf("Distillery benchmark: %,d train images (%s), %s, %d cores, %s%n", count, config.data().name(), master,
                    Runtime.getRuntime().availableProcessors(), Nd4jRuntime.describe(teacher));
            System.out.printf("precompute: teacher %s (%,d params), batch %d, taps %s, %s; distill: student %s, batch %d, averaging every %d, %d workers%n%n",
                    config.teacher().model().architecture(), teacher.numParams(), config.precompute().batchSize(), config.precompute().taps(),
                    config.precompute().tapEncoding(), config.student().model().architecture(), train.batchSize(), train.averagingFrequency(),
                    new SparkGraphTrainer(ctx.sc(), train, "").workers());
            System.out.println("| measurement | Spark stage | plain single JVM | Spark / plain |");
            System.out.println("|---|---:|---:|---:|");
            System.out.printf("| precompute, images/s (Spark: inference + encode + Parquet write + verify; plain: output()) | %,.0f | %,.0f | %.2f |%n",
                    sparkPrecompute, plainOutput, sparkPrecompute / plainOutput);
            System.out.printf("| distill, seconds per epoch (Spark: parameter averaging; plain: ComputationGraph.fit) | %.1f | %.1f | %.2f |%n",
                    sparkEpoch[0], plainEpoch, sparkEpoch[0] / plainEpoch);
            System.out.printf("%nTime ratio below 1 means the Spark stage is faster. Files in %s (delete when done).%n", dir);
        } finally {
            spark.stop();
        }
    }

    /** The train split as in-memory batches (benchmark only: the point is to exclude I/O from the plain side). */
    private static List<MultiDataSet> trainBatches(StageContext ctx, ImageShape shape, int classes, int batch) {
        BatchAssembler a = new BatchAssembler(shape, List.of(new io.distillery.method.LabelSource.ClassLabels(classes)), batch, 0);
        return ctx.table(ctx.layout().examples()).filter("split = 'train'").select(ExamplesTable.ID, ExamplesTable.LABEL, ExamplesTable.IMAGE)
                .javaRDD().mapPartitions(a::batches).collect();
    }

    private static double plainInference(ComputationGraph teacher, List<MultiDataSet> batches) {
        Nd4jRuntime.limitThreads(Runtime.getRuntime().availableProcessors());
        for (int i = 0; i < Math.min(3, batches.size()); i++) {
            teacher.output(false, batches.get(i).getFeatures(0));
        }
        long n = 0;
        long start = System.nanoTime();
        for (MultiDataSet b : batches) {
            teacher.output(false, b.getFeatures(0));
            n += b.getFeatures(0).size(0);
        }
        Nd4j.getExecutioner().commit();
        return n / ((System.nanoTime() - start) / 1e9);
    }
}
