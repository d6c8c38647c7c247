package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.distillery.config.ModelSpec;
import io.distillery.config.PipelineConfig.DistillSettings;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.method.DistillationGraph;
import io.distillery.method.StudentGraphs;
import io.distillery.method.TeacherOutputs;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.TensorEncoding;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The demo's student, trained by parameter averaging in local[2] on rows shaped like the demo's
 * (28x28 images, float32 logits, a float16 128x7x7 stage3 tap).
 */
class StudentSparkTrainingTest {
    private static final ModelSpec STUDENT = new ModelSpec("cnn", List.of(16, 32, 64), List.of(1, 1, 2), "flatten");
    private static final ImageShape MNIST = new ImageShape(28, 28, 1);
    private static final int CLASSES = 10;
    private static final int TAP = 128 * 7 * 7;
    private static final TrainSettings TRAIN = new TrainSettings(1, 64, 0.01, "constant", 0, 2, 100, 5);
    private static SparkSession spark;
    private static Dataset<Row> rows;

    @BeforeAll
    static void start() {
        spark = LocalSpark.start("student-training-test");
        StructType schema = new StructType().add("id", DataTypes.LongType).add("label", DataTypes.IntegerType)
                .add("image", DataTypes.BinaryType).add("logits", DataTypes.BinaryType).add("tap_stage3", DataTypes.BinaryType);
        Random random = new Random(7);
        List<Row> list = new ArrayList<>();
        for (long id = 0; id < 1536; id++) {
            byte[] image = new byte[28 * 28];
            random.nextBytes(image);
            float[] logits = new float[CLASSES];
            for (int i = 0; i < CLASSES; i++) {
                logits[i] = (float) random.nextGaussian() * 3;
            }
            float[] tap = new float[TAP];
            for (int i = 0; i < TAP; i++) {
                tap[i] = random.nextFloat() * 2;
            }
            list.add(RowFactory.create(id, (int) (id % CLASSES), image, TensorEncoding.FLOAT32.encode(logits),
                    TensorEncoding.FLOAT16.encode(tap)));
        }
        rows = spark.createDataFrame(list, schema).repartition(2).persist();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    private static TeacherOutputs teacher() {
        List<ColumnSpec> columns = List.of(
                ColumnSpec.plain(TeacherOutputsTable.ID, "int64", "example id"),
                new ColumnSpec(TeacherOutputsTable.LOGITS, "binary", "float32-le", List.of(CLASSES), "K", null, "logits"),
                new ColumnSpec("tap_stage3", "binary", "float16-le", List.of(128, 7, 7), "CHW", "stage3", "tap"));
        return new TeacherOutputs("resnet", new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 1536, "h", columns, Map.of(), null));
    }

    private static ComputationGraph train(double hintWeight, ComputationGraph startFrom) {
        DistillSettings d = new DistillSettings(TRAIN, 0.3, 0.7, 4.0, hintWeight, hintWeight > 0 ? "stage3" : "",
                hintWeight > 0 ? "stage3" : "");
        DistillationGraph graph = StudentGraphs.build(STUDENT, MNIST, CLASSES, TRAIN, StudentGraphs.methods(d, CLASSES), teacher());
        ComputationGraph g = new ComputationGraph(graph.build());
        g.init();
        if (startFrom != null) {
            startFrom.paramTable().forEach((name, value) -> g.setParam(name, value.dup()));
        }
        RowBatches data = new RowBatches(rows, rows.count(), new BatchAssembler(MNIST, graph.labels(), TRAIN.batchSize()), 3);
        new SparkGraphTrainer(JavaSparkContext.fromSparkContext(spark.sparkContext()), TRAIN, "test").fit(g, data, 0, (n, r) -> { });
        return g;
    }

    /**
     * Each worker must train on the batches it was given. With DL4J's worker prefetching
     * (workerPrefetchNumBatches 2) a student with a FitNets hint head trained on mixed-up batches:
     * the demo's student reached 60% instead of 90% whatever the hint's weight (compare
     * deeplearning4j#3523), and here the backbone drifted from KD alone's. It takes a dozen batches
     * per worker and round to show. Both runs start from the same backbone parameters.
     */
    @Test
    void aNegligibleHintHeadLeavesTheBackboneAsKdAloneTrainsIt() {
        ComputationGraph initial = new ComputationGraph(StudentGraphs.build(STUDENT, MNIST, CLASSES, TRAIN,
                StudentGraphs.methods(new DistillSettings(TRAIN, 0.3, 0.7, 4.0, 0, "", ""), CLASSES), teacher()).build());
        initial.init();
        ComputationGraph kd = train(0, initial);
        ComputationGraph kdAndHint = train(1e-12, initial);
        kd.paramTable().forEach((param, value) ->
                assertArrayEquals(value.dup().data().asDouble(), kdAndHint.getParam(param).dup().data().asDouble(), 1e-4, param));
    }
}
