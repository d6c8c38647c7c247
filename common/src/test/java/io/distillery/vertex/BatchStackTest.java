package io.distillery.vertex;

import static io.distillery.loss.AdversarialGraphs.BATCH;
import static io.distillery.loss.AdversarialGraphs.CHANNELS;
import static io.distillery.loss.AdversarialGraphs.SIZE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.loss.AdversarialGraphs;
import io.distillery.loss.AdversarialLoss;
import io.distillery.loss.DoublePrecision;
import java.util.Map;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * {@link BatchStacking}: DL4J's own StackVertex stacks [B,...] + [B,...] → [2B,...] (first input
 * first) and splits epsilon back; the pairs reshape turns [2B, 1] into [B, 2]. Checked on
 * convolutional maps with parameters on both branches, with and without workspaces, at two
 * minibatch sizes.
 */
@ExtendWith(DoublePrecision.class)
class BatchStackTest {

    /** "a" → conv "ca" ┐ stack → D → pairs → AdversarialLoss; "b" → conv "cb" ┘ (both branches learn). */
    private static ComputationGraphConfiguration twoBranches(AdversarialLoss loss) {
        ComputationGraphConfiguration.GraphBuilder b = new NeuralNetConfiguration.Builder()
                .seed(5).dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("a", "b")
                .setInputTypes(InputType.convolutional(SIZE, SIZE, CHANNELS), InputType.convolutional(SIZE, SIZE, CHANNELS))
                .addLayer("ca", new ConvolutionLayer.Builder(1, 1).nOut(CHANNELS).activation(Activation.TANH).build(), "a")
                .addLayer("cb", new ConvolutionLayer.Builder(1, 1).nOut(CHANNELS).activation(Activation.SIGMOID).build(), "b")
                .addVertex("stack", BatchStacking.stack(), "ca", "cb");
        String logits = AdversarialGraphs.discriminator(b, "stack");
        return b.addVertex("pairs", BatchStacking.halvesToColumns(), logits)
                .addLayer("adv", new LossLayer.Builder(loss).activation(Activation.IDENTITY).build(), "pairs")
                .setOutputs("adv")
                .build();
    }

    @Test
    void stackPutsTheFirstInputsRowsFirst() {
        ComputationGraph graph = AdversarialGraphs.init(AdversarialGraphs.subGraph(1, new AdversarialLoss()));
        MultiDataSet data = AdversarialGraphs.data(1);
        Map<String, INDArray> activations = graph.feedForward(data.getFeatures(), true);
        INDArray stacked = activations.get(AdversarialGraphs.STACK);
        assertArrayEquals(new long[] {2 * BATCH, CHANNELS, SIZE, SIZE}, stacked.shape());
        assertEquals(activations.get(AdversarialGraphs.GRL), stacked.get(NDArrayIndex.interval(0, BATCH)));
        assertEquals(data.getFeatures(1), stacked.get(NDArrayIndex.interval(BATCH, 2 * BATCH)));
    }

    @Test
    void bothBranchesPassDl4jGradientCheck() {
        MultiDataSet data = AdversarialGraphs.data(2);
        assertTrue(GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(AdversarialGraphs.init(twoBranches(new AdversarialLoss(0.8, 0.9))))
                .inputs(data.getFeatures())
                .labels(data.getLabels())
                .epsilon(1e-6)
                .maxRelError(1e-6)
                .minAbsoluteError(1e-9)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY)));
    }

    @Test
    void outputTypes() {
        InputType map = InputType.convolutional(SIZE, SIZE, CHANNELS);
        assertEquals(map, BatchStacking.stack().getOutputType(-1, map, map));
        assertEquals(InputType.feedForward(7),
                BatchStacking.stack().getOutputType(-1, InputType.feedForward(7), InputType.feedForward(7)));
        assertThrows(RuntimeException.class,
                () -> BatchStacking.stack().getOutputType(-1, map, InputType.convolutional(SIZE, SIZE, CHANNELS + 1)));
        assertEquals(InputType.feedForward(2), BatchStacking.halvesToColumns().getOutputType(-1, InputType.feedForward(1)));
    }

    @Test
    void pairsFollowTheMinibatchSize() {
        ComputationGraph graph = AdversarialGraphs.init(AdversarialGraphs.subGraph(1, new AdversarialLoss()));
        for (int batch : new int[] {3, 5, 1}) {
            INDArray fake = Nd4j.randn(DataType.DOUBLE, batch, CHANNELS, SIZE, SIZE);
            INDArray real = Nd4j.randn(DataType.DOUBLE, batch, CHANNELS, SIZE, SIZE);
            Map<String, INDArray> activations = graph.feedForward(new INDArray[] {fake, real}, false);
            INDArray stacked = activations.get(AdversarialGraphs.LOGIT);
            INDArray pairs = activations.get(AdversarialGraphs.PAIRS);
            assertArrayEquals(new long[] {batch, 2}, pairs.shape());
            assertEquals(stacked.get(NDArrayIndex.interval(0, batch)), pairs.getColumn(0, true));
            assertEquals(stacked.get(NDArrayIndex.interval(batch, 2 * batch)), pairs.getColumn(1, true));
            double score = graph.score(new MultiDataSet(new INDArray[] {fake, real},
                    new INDArray[] {Nd4j.zeros(DataType.DOUBLE, batch, 1)}), false);
            assertTrue(Double.isFinite(score) && score > 0);
        }
    }

    /** Workspaces must not change a single bit: gradients, and parameters after a few SGD steps. */
    @Test
    void workspacesChangeNothing() {
        ComputationGraph with = AdversarialGraphs.init(AdversarialGraphs.subGraph(1, new AdversarialLoss(),
                DataType.DOUBLE, new Sgd(0.1), WorkspaceMode.ENABLED, true));
        ComputationGraph without = AdversarialGraphs.init(AdversarialGraphs.subGraph(1, new AdversarialLoss(),
                DataType.DOUBLE, new Sgd(0.1), WorkspaceMode.NONE, true));
        assertEquals(with.params(), without.params());
        MultiDataSet data = AdversarialGraphs.data(4);
        assertEquals(AdversarialGraphs.analyticGradient(with, data), AdversarialGraphs.analyticGradient(without, data));
        INDArray before = with.params().dup();
        for (int i = 0; i < 3; i++) {
            MultiDataSet batch = AdversarialGraphs.data(10 + i);
            with.fit(batch);
            without.fit(batch);
        }
        assertFalse(before.equals(with.params()), "training moved the parameters");
        assertEquals(with.params(), without.params());
    }
}
