package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.layer.FusedBatchNormHelper;
import io.distillery.method.LabelSource;
import java.util.ArrayList;
import java.util.Arrays;
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
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** Parameter averaging in local[2]: what the driver decides per epoch must reach the workers. */
class SparkGraphTrainerTest {
    private static final ImageShape SHAPE = new ImageShape(4, 4, 1);
    private static final int EPOCHS = 2;
    private static SparkSession spark;
    private static RowBatches data;

    @BeforeAll
    static void start() {
        spark = LocalSpark.start("trainer-test");
        StructType schema = new StructType().add("id", DataTypes.LongType).add("label", DataTypes.IntegerType)
                .add("image", DataTypes.BinaryType);
        Random random = new Random(7);
        List<Row> rows = new ArrayList<>();
        for (long id = 0; id < 64; id++) {
            byte[] image = new byte[16];
            random.nextBytes(image);
            rows.add(RowFactory.create(id, (int) (id % 2), image));
        }
        Dataset<Row> table = spark.createDataFrame(rows, schema).repartition(2).persist();
        data = new RowBatches(table, table.count(), new BatchAssembler(SHAPE, List.of(new LabelSource.ClassLabels(2)), 8), 3);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    private static ComputationGraph graph() {
        return graph(false);
    }

    private static ComputationGraph graph(boolean batchNorm) {
        ComputationGraphConfiguration.GraphBuilder builder = new NeuralNetConfiguration.Builder().seed(11).updater(new Adam(0.05))
                .graphBuilder().addInputs("in").setInputTypes(InputType.convolutional(4, 4, 1));
        String features = "in";
        if (batchNorm) {
            // No bias, as in the zoo: batch norm cancels a bias, whose true gradient is 0, and Adam turns
            // the rounding noise of any implementation into full-size steps of it.
            builder.addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(3).hasBias(false).activation(Activation.IDENTITY).build(), "in")
                    .addLayer("bn", new BatchNormalization.Builder().build(), "conv");
            features = "bn";
        }
        ComputationGraphConfiguration conf = builder
                .addLayer("hidden", new DenseLayer.Builder().nOut(6).activation(Activation.TANH).build(), features)
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "hidden")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    /** Parameters after each epoch, and the graph's final learning rate on the driver. */
    private record Run(List<double[]> paramsByEpoch, double finalLearningRate, double[] initialParams) {
    }

    private static Run train(String schedule) {
        return train(schedule, HeadSchedule.none());
    }

    private static Run train(String lrSchedule, HeadSchedule heads) {
        return train(lrSchedule, heads, graph());
    }

    private static Run train(String lrSchedule, HeadSchedule heads, ComputationGraph g) {
        TrainSettings settings = new TrainSettings(EPOCHS, 8, 0.05, lrSchedule, 0, 2, 2, 5);
        List<double[]> params = new ArrayList<>();
        params.add(g.params().toDoubleVector());
        new SparkGraphTrainer(JavaSparkContext.fromSparkContext(spark.sparkContext()), settings, "test", heads)
                .fit(g, data, 0, (graph, result) -> params.add(graph.params().toDoubleVector()));
        return new Run(params.subList(1, params.size()), g.getLearningRate("out"), params.get(0));
    }

    @Test
    void workersTrainWithEachEpochsHeadWeights() {
        // The only head is off in epoch 1: zero gradients, and Adam (no l2 here) leaves every parameter as it was.
        Run run = train("constant", new HeadSchedule(Map.of("out", List.of(0.0, 1.0))));
        assertArrayEquals(run.initialParams(), run.paramsByEpoch().get(0), 0.0, "epoch 1 trained although its head weight was 0");
        assertFalse(Arrays.equals(run.initialParams(), run.paramsByEpoch().get(1)), "epoch 2's head weight 1 did not reach the workers");
    }

    @Test
    void workersTrainWithEachEpochsLearningRate() {
        Run constant = train("constant");
        Run linear = train("linear");
        assertEquals(EPOCHS, linear.paramsByEpoch().size());
        // Same rate in epoch 1, and training is deterministic: identical parameters.
        assertArrayEquals(constant.paramsByEpoch().get(0), linear.paramsByEpoch().get(0), 0.0);
        // Epoch 2 runs at half the rate under "linear": the workers must have trained differently.
        assertFalse(Arrays.equals(constant.paramsByEpoch().get(1), linear.paramsByEpoch().get(1)),
                "the linear schedule's epoch-2 learning rate did not reach the workers");
        assertEquals(0.05, constant.finalLearningRate(), 1e-12);
        assertEquals(0.025, linear.finalLearningRate(), 1e-12);
    }

    @Test
    void workersTrainWithTheFusedBatchNorm() {
        Run fused = train("constant", HeadSchedule.none(), graph(true));
        System.setProperty(FusedBatchNormHelper.ENABLED_PROPERTY, "false");
        Run dl4j;
        try {
            dl4j = train("constant", HeadSchedule.none(), graph(true));
        } finally {
            System.clearProperty(FusedBatchNormHelper.ENABLED_PROPERTY);
        }
        double[] a = fused.paramsByEpoch().get(EPOCHS - 1), b = dl4j.paramsByEpoch().get(EPOCHS - 1);
        // Training is deterministic, so any difference comes from the workers' batch norm: the hook reached them...
        assertFalse(Arrays.equals(a, b), "the workers trained with DL4J's own batch-norm helper");
        // ...and it computes what DL4J's does, up to float rounding.
        assertArrayEquals(b, a, 1e-4);
    }

    @Test
    void linearScheduleEndsAtRateOverEpochs() {
        TrainSettings linear = new TrainSettings(4, 8, 0.01, "linear", 0, 2, 2, 5);
        assertEquals(0.01, linear.learningRateAt(0), 1e-15);
        assertEquals(0.0075, linear.learningRateAt(1), 1e-15);
        assertEquals(0.0025, linear.learningRateAt(3), 1e-15);
        assertEquals(0.01, new TrainSettings(4, 8, 0.01, "constant", 0, 2, 2, 5).learningRateAt(3), 1e-15);
    }
}
