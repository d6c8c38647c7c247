package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** Running statistics re-estimated from batches: inference then normalises as training did. */
class BatchNormRecalibrationTest {

    /** conv -> BN (log-std, DL4J's default) -> dense -> BN (plain variance) -> output. */
    private static ComputationGraph graph() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE)
                .updater(new Adam(1e-3)).graphBuilder()
                .addInputs("image").setInputTypes(InputType.convolutional(6, 6, 1))
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.RELU).build(), "image")
                .addLayer("bn1", new BatchNormalization.Builder().build(), "conv")
                .addLayer("dense", new DenseLayer.Builder().nOut(5).activation(Activation.IDENTITY).build(), "bn1")
                .addLayer("bn2", new BatchNormalization.Builder().useLogStd(false).build(), "dense")
                .addLayer("output", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3)
                        .activation(Activation.SOFTMAX).build(), "bn2")
                .setOutputs("output").build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        return graph;
    }

    private static MultiDataSet batch(long seed, int n) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.rand(DataType.DOUBLE, n, 1, 6, 6).muli(4).addi(1);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, n, 3);
        for (int i = 0; i < n; i++) {
            y.putScalar(i, i % 3, 1);
        }
        return new MultiDataSet(x, y);
    }

    @Test
    void statisticsMatchTheBatchesSoInferenceNormalisesLikeTraining() {
        ComputationGraph graph = graph();
        // Stale statistics, as gradient sharing leaves them.
        graph.getLayer("bn1").getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN).assign(5);
        graph.getLayer("bn2").getParam(BatchNormalizationParamInitializer.GLOBAL_VAR).assign(9);
        MultiDataSet only = batch(11, 64);
        INDArray trainingMode = graph.feedForward(only.getFeatures(), true).get("output");
        assertFalse(trainingMode.equalsWithEps(graph.outputSingle(false, only.getFeatures()), 1e-3),
                "stale statistics must change the inference output, or the test proves nothing");

        assertEquals(2, BatchNormRecalibration.recalibrate(graph, List.of(only)));

        // One batch: the running statistics are that batch's, so inference equals the training-mode pass.
        assertTrue(trainingMode.equalsWithEps(graph.outputSingle(false, only.getFeatures()), 1e-6));
    }

    @Test
    void pooledOverSeveralBatchesPerChannel() {
        ComputationGraph graph = graph();
        List<MultiDataSet> batches = List.of(batch(1, 16), batch(2, 16), batch(3, 32));
        BatchNormRecalibration.recalibrate(graph, batches);
        INDArray conv = Nd4j.concat(0, batches.stream().map(b -> graph.feedForward(b.getFeatures(), false).get("conv"))
                .toArray(INDArray[]::new));
        INDArray mean = conv.mean(0, 2, 3);
        INDArray variance = conv.var(false, 0, 2, 3);
        INDArray bn = graph.getLayer("bn1").getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN);
        assertTrue(mean.reshape(bn.shape()).equalsWithEps(bn, 1e-9));
        INDArray logStd = graph.getLayer("bn1").getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD);
        INDArray fromLog = logStd.mul(2 * Math.log(10)).reshape(variance.shape());
        assertTrue(variance.equalsWithEps(org.nd4j.linalg.ops.transforms.Transforms.exp(fromLog), 1e-9));
    }
}
