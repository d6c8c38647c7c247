package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.loss.KnowledgeDistillationLoss;
import io.distillery.method.LabelSource;
import io.distillery.tensor.TopKEncoding;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.learning.config.Adam;

/**
 * A student trained from top-k teacher logits: DL4J hands the MultiDataSet's label masks to the KD
 * loss layer in {@code ComputationGraph.score} and {@code fit}, in a plain graph and through the Spark
 * trainer's workers; the loss probe ({@link LossTerms}) uses them too.
 */
class TopKTrainingTest {
    private static final ImageShape SHAPE = new ImageShape(4, 4, 1);
    private static final int CLASSES = 4;
    private static final double T = 2;
    private static final TopKEncoding TOP2 = new TopKEncoding(2);
    private static final StructType SCHEMA = new StructType()
            .add("id", DataTypes.LongType).add("label", DataTypes.IntegerType).add("image", DataTypes.BinaryType)
            .add("logits", DataTypes.BinaryType);
    private static final List<LabelSource> HEADS = List.of(new LabelSource.TeacherColumn("logits", TOP2, CLASSES));

    /** in (4x4x1) → hidden → logits → kd (the KD loss on top-2 labels): the only head. */
    private static ComputationGraph student() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).updater(new Adam(0.03))
                .graphBuilder().addInputs("in").setInputTypes(InputType.convolutional(4, 4, 1))
                .addLayer("hidden", new DenseLayer.Builder().nOut(12).activation(Activation.TANH).build(), "in")
                .addLayer("logits", new DenseLayer.Builder().nOut(CLASSES).activation(Activation.IDENTITY).build(), "hidden")
                .addLayer("kd", new LossLayer.Builder(new KnowledgeDistillationLoss(T, 1.0)).activation(Activation.IDENTITY).build(), "logits")
                .setOutputs("kd").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    /**
     * Rows whose teacher logits are a fixed linear map of the pixels (learnable); with {@code firstTwo}
     * classes 0 and 1 are always the top 2, so classes 2 and 3 are never stored.
     */
    private static List<Row> rows(int n, boolean firstTwo) {
        Random random = new Random(firstTwo ? 1 : 2);
        double[][] map = new double[CLASSES][16];
        for (double[] m : map) {
            for (int p = 0; p < 16; p++) {
                m[p] = random.nextGaussian();
            }
        }
        List<Row> rows = new ArrayList<>();
        for (long id = 0; id < n; id++) {
            byte[] image = new byte[16];
            random.nextBytes(image);
            float[] logits = new float[CLASSES];
            for (int c = 0; c < CLASSES; c++) {
                for (int p = 0; p < 16; p++) {
                    logits[c] += (float) (map[c][p] * (image[p] & 0xff) / 255.0);
                }
                logits[c] += firstTwo && c < 2 ? 100 : 0;
            }
            rows.add(new GenericRowWithSchema(new Object[]{id, 0, image, TOP2.encode(logits)}, SCHEMA));
        }
        return rows;
    }

    private static MultiDataSet batch(List<Row> rows) {
        return new BatchAssembler(SHAPE, HEADS, rows.size()).batches(rows.iterator()).next();
    }

    /** The KD loss by hand in doubles, both softmaxes over each row's stored classes, averaged over rows. */
    private static double kdByHand(ComputationGraph g, List<Row> rows, MultiDataSet mds) {
        // score(MultiDataSet) leaves the label masks on the output layers, where output() would apply a
        // per-output mask as if per example and fail; Distillery never calls output() on a training graph.
        g.clearLayerMaskArrays();
        INDArray student = g.output(mds.getFeatures())[0];
        double total = 0;
        for (int i = 0; i < rows.size(); i++) {
            byte[] bytes = rows.get(i).getAs("logits");
            float[] values = TOP2.values(bytes);
            int[] classes = TOP2.indices(bytes);
            double t0 = values[0] / T, t1 = values[1] / T;
            double s0 = student.getDouble(i, classes[0]) / T, s1 = student.getDouble(i, classes[1]) / T;
            double pt0 = 1 / (1 + Math.exp(t1 - t0)), pt1 = 1 - pt0;
            double ps0 = 1 / (1 + Math.exp(s1 - s0)), ps1 = 1 - ps0;
            total += T * T * (pt0 * Math.log(pt0 / ps0) + pt1 * Math.log(pt1 / ps1));
        }
        return total / rows.size();
    }

    @Test
    void studentTrainsOnMaskedKdLabelsInAPlainGraph() {
        List<Row> rows = rows(32, false);
        MultiDataSet mds = batch(rows);
        ComputationGraph g = student();

        double before = g.score(mds);
        assertEquals(kdByHand(g, rows, mds), before, 1e-4 * Math.max(1, before), "score() reads the label mask");
        double[] probe = LossTerms.sums(g, List.of(mds).iterator());
        assertEquals(before * rows.size(), probe[0], 1e-3 * Math.max(1, before * rows.size()), "the loss probe reads the label mask");
        assertEquals(rows.size(), probe[probe.length - 1], 0.0);

        for (int i = 0; i < 200; i++) {
            g.fit(mds);
        }
        double after = g.score(mds);
        assertEquals(kdByHand(g, rows, mds), after, 1e-4 * Math.max(1, after));
        assertTrue(after < 0.3 * before, "KD score did not fall: " + before + " -> " + after);
    }

    /** Classes outside every row's top 2 take no part: their logit weights and biases keep their initial values. */
    @Test
    void unstoredClassesGetNoGradientInFit() {
        MultiDataSet mds = batch(rows(32, true));
        ComputationGraph g = student();
        INDArray w0 = g.getLayer("logits").getParam("W").dup(), b0 = g.getLayer("logits").getParam("b").dup();
        for (int i = 0; i < 10; i++) {
            g.fit(mds);
        }
        assertUnstoredUnchanged(w0, b0, g);

        // Control: the same labels without their mask (zeros read as logits) do move classes 2 and 3.
        ComputationGraph control = student();
        control.fit(new org.nd4j.linalg.dataset.MultiDataSet(mds.getFeatures(), mds.getLabels()));
        assertFalse(Arrays.equals(b0.toDoubleVector(), control.getLayer("logits").getParam("b").toDoubleVector()));
    }

    /** The same through parameter averaging on local[2]: DL4J's Spark workers pass the label masks on to fit. */
    @Test
    void sparkWorkersHonourTheLabelMasks() {
        SparkSession spark = LocalSpark.start("topk-training-test");
        try {
            Dataset<Row> table = spark.createDataFrame(rows(64, true), SCHEMA).repartition(2).persist();
            RowBatches data = new RowBatches(table, table.count(), new BatchAssembler(SHAPE, HEADS, 8), 3);
            ComputationGraph g = student();
            INDArray w0 = g.getLayer("logits").getParam("W").dup(), b0 = g.getLayer("logits").getParam("b").dup();
            double[] initial = g.params().toDoubleVector();
            new SparkGraphTrainer(JavaSparkContext.fromSparkContext(spark.sparkContext()), new TrainSettings(2, 8, 0.03, "constant", 0, 2, 2, 5),
                    "topk-test").fit(g, data, 0, (graph, result) -> { });
            assertFalse(Arrays.equals(initial, g.params().toDoubleVector()), "nothing trained");
            assertUnstoredUnchanged(w0, b0, g);
            table.unpersist();
        } finally {
            spark.stop();
        }
    }

    private static void assertUnstoredUnchanged(INDArray w0, INDArray b0, ComputationGraph g) {
        INDArray w = g.getLayer("logits").getParam("W"), b = g.getLayer("logits").getParam("b");
        for (int c = 0; c < CLASSES; c++) {
            boolean same = Arrays.equals(w0.getColumn(c).toDoubleVector(), w.getColumn(c).toDoubleVector())
                    && b0.getDouble(c) == b.getDouble(c);
            assertEquals(c >= 2, same, "class " + c + (c >= 2 ? " is never stored but its weights moved" : " is stored but did not train"));
        }
    }
}
