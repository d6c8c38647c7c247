package io.distillery.layer;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import io.distillery.loss.DoublePrecision;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(DoublePrecision.class)
class FusedBatchNormHelperTest {
    private static final int BATCH = 6;

    /**
     * conv → BN → ReLU layer → dense → BN (dense input) → softmax output: both kinds of batch-norm
     * input, and a ReLU the fused helper takes over ({@link ReluAfterFusedBatchNorm}).
     */
    private static ComputationGraph graph(DataType type, boolean fused) {
        return graph(type, fused, new Adam(0.01));
    }

    /** Input "in" (2×6×5 maps) → "conv" → batch norm "bn" → ReLU layer "relu". */
    private static ComputationGraphConfiguration.GraphBuilder convBnRelu(DataType type, org.nd4j.linalg.learning.config.IUpdater updater) {
        return new NeuralNetConfiguration.Builder()
                .seed(3).dataType(type).updater(updater)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(6, 5, 2))
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(4).hasBias(false).activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "conv")
                .addLayer("relu", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn");
    }

    private static ComputationGraph graph(DataType type, boolean fused, org.nd4j.linalg.learning.config.IUpdater updater) {
        ComputationGraphConfiguration conf = convBnRelu(type, updater)
                .addLayer("dense", new DenseLayer.Builder().nOut(5).activation(Activation.TANH).build(), "relu")
                .addLayer("bn_dense", new BatchNormalization.Builder().build(), "dense")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build(), "bn_dense")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        if (fused) {
            assertEquals(2, FusedBatchNormHelper.install(graph));
            assertInstanceOf(FusedBatchNormHelper.class, ((org.deeplearning4j.nn.layers.normalization.BatchNormalization) graph.getLayer("bn")).getHelper());
            assertInstanceOf(ReluAfterFusedBatchNorm.class, graph.getLayer("relu"));
            assertTrue(java.util.Arrays.asList(graph.getLayers()).contains(graph.getLayer("relu")), "the graph's layer list holds the fused ReLU too");
            assertEquals(2, FusedBatchNormHelper.install(graph), "install is idempotent");
        }
        return graph;
    }

    private static MultiDataSet data(DataType type, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.randn(type, BATCH, 2, 6, 5).muli(2).addi(1);
        INDArray y = Nd4j.zeros(type, BATCH, 3);
        for (int i = 0; i < BATCH; i++) {
            y.putScalar(i, i % 3, 1);
        }
        return new MultiDataSet(x, y);
    }

    @Test
    void trainsExactlyLikeDl4jsOwnBatchNorm() {
        ComputationGraph fused = graph(DataType.FLOAT, true), dl4j = graph(DataType.FLOAT, false);
        dl4j.setParams(fused.params().dup());
        for (int step = 0; step < 5; step++) {
            MultiDataSet batch = data(DataType.FLOAT, step);
            assertClose(dl4j.output(true, batch.getFeatures(0))[0], fused.output(true, batch.getFeatures(0))[0], 1e-5, "training output");
            fused.fit(batch);
            assertTrue(((ReluAfterFusedBatchNorm) fused.getLayer("relu")).passedThrough(), "the fused ReLU passed the helper's output through");
            dl4j.fit(batch);
        }
        // Parameters include γ, β and the running mean and variance the layer moves from the helper's batch stats.
        assertClose(dl4j.params(), fused.params(), 1e-4, "parameters after 5 Adam steps");
        INDArray test = data(DataType.FLOAT, 99).getFeatures(0);
        assertClose(dl4j.outputSingle(false, test), fused.outputSingle(false, test), 1e-5, "inference output");
    }

    @Test
    void gradientsMatchTheFormulasOnAViewInput() {
        ComputationGraph graph = graph(DataType.DOUBLE, false);
        // A view into a larger array: the helper must read only the view's elements.
        INDArray padded = Nd4j.randn(DataType.DOUBLE, BATCH + 2, 4, 4, 3);
        INDArray x = padded.get(NDArrayIndex.interval(1, BATCH + 1), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all());
        checkAgainstFormulas(x, Nd4j.randn(DataType.DOUBLE, BATCH, 4, 4, 3), DataType.DOUBLE, 1e-10);
        org.deeplearning4j.nn.layers.normalization.BatchNormalization bn =
                (org.deeplearning4j.nn.layers.normalization.BatchNormalization) graph.getLayer("bn");
        assertTrue(bn.getHelper() == null || !(bn.getHelper() instanceof FusedBatchNormHelper), "install is opt-in per graph");
    }

    @Test
    void samplesLargerThanOneBlockMatchTheFormulasInBothPrecisions() {
        // One sample holds 18,291 values, more than a block: blocks end inside a sample and inside a
        // channel's plane of 91·67 positions, for the per-sample sums as for the flat affine pass.
        long[] shape = {2, 3, 91, 67};
        assertTrue(3 * 91 * 67 > FusedBatchNormHelper.Planes.BLOCK);
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.randn(DataType.DOUBLE, shape).muli(3).addi(2), dy = Nd4j.randn(DataType.DOUBLE, shape);
        checkAgainstFormulas(x, dy, DataType.DOUBLE, 1e-10);
        checkAgainstFormulas(x, dy, DataType.FLOAT, 1e-5);
        checkAgainstFormulas(x, dy, DataType.DOUBLE, 1e-10, true);
        checkAgainstFormulas(x, dy, DataType.FLOAT, 1e-5, true);
    }

    private static void checkAgainstFormulas(INDArray x, INDArray dy, DataType type, double tolerance) {
        checkAgainstFormulas(x, dy, type, tolerance, false);
    }

    /**
     * Runs the helper forward and backward on x and dy cast to {@code type}, with the ReLU fused in or
     * not; checks against the formulas in ND4J ops on the double originals.
     */
    private static void checkAgainstFormulas(INDArray x, INDArray dy, DataType type, double tolerance, boolean relu) {
        int channels = (int) x.size(1);
        long[] perChannel = {1, channels, 1, 1};
        INDArray gamma = Nd4j.rand(DataType.DOUBLE, 1, channels).addi(0.5), beta = Nd4j.randn(DataType.DOUBLE, 1, channels);
        INDArray dGamma = Nd4j.create(type, 1, channels), dBeta = Nd4j.create(type, 1, channels);
        LayerWorkspaceMgr ws = LayerWorkspaceMgr.noWorkspaces();
        FusedBatchNormHelper helper = new FusedBatchNormHelper();
        if (relu) {
            helper.fuseRelu();
        }
        INDArray xt = type == x.dataType() ? x : x.castTo(type), dyt = dy.castTo(type), gt = gamma.castTo(type), bt = beta.castTo(type);
        INDArray out = helper.preOutput(xt, true, null, gt, bt, null, null, 0.9, 1e-5, null, ws);
        INDArray dx = helper.backpropGradient(xt, dyt, null, gt, bt, dGamma, dBeta, 1e-5, null, ws).getSecond();

        // Reference: the same formulas in ND4J's own ops, in double.
        INDArray mean = x.mean(0, 2, 3), var = x.var(false, 0, 2, 3);
        INDArray std = var.add(1e-5).reshape(perChannel);
        org.nd4j.linalg.ops.transforms.Transforms.sqrt(std, false);
        INDArray xHat = x.sub(mean.reshape(perChannel)).div(std);
        INDArray y = xHat.mul(gamma.reshape(perChannel)).add(beta.reshape(perChannel));
        if (relu) {
            // max(0, y) forward; backward the gradient reaches y only where y > 0.
            INDArray positive = y.gt(0).castTo(DataType.DOUBLE);
            assertTrue(positive.sumNumber().doubleValue() > 0.2 * y.length() && positive.sumNumber().doubleValue() < 0.8 * y.length(), "ReLU clamps a good share");
            dy = dy.mul(positive);
            y = y.mul(positive);
        }
        INDArray expectedDBeta = dy.sum(0, 2, 3).reshape(1, channels), expectedDGamma = dy.mul(xHat).sum(0, 2, 3).reshape(1, channels);
        assertClose(y, out, tolerance, type + (relu ? " output after ReLU" : " output"));
        assertClose(expectedDBeta, dBeta, tolerance, type + " dβ");
        assertClose(expectedDGamma, dGamma, tolerance, type + " dγ");
        double m = x.length() / (double) channels;
        INDArray expectedDx = dy.mul(m).sub(expectedDBeta.reshape(perChannel)).sub(xHat.mul(expectedDGamma.reshape(perChannel)))
                .mul(gamma.reshape(perChannel)).div(std).div(m);
        assertClose(expectedDx, dx, tolerance, type + (relu ? " dx through the ReLU" : " dx"));
        assertClose(mean, helper.getMeanCache(type), tolerance, type + " batch mean");
        assertClose(var, helper.getVarCache(type), tolerance, type + " batch variance");
    }

    @Test
    void passesDl4jGradientCheckInDoublePrecision() {
        ComputationGraph graph = graph(DataType.DOUBLE, true, new org.nd4j.linalg.learning.config.NoOp());
        MultiDataSet data = data(DataType.DOUBLE, 1);
        // The running mean and log10 std are moved by the layer, not by gradients; DL4J's own BN checks skip them too.
        Set<String> notGradients = Set.of("bn_mean", "bn_log10stdev", "bn_dense_mean", "bn_dense_log10stdev");
        assertTrue(GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(graph)
                .inputs(data.getFeatures())
                .labels(data.getLabels())
                .excludeParams(notGradients)
                .epsilon(1e-6)
                .maxRelError(1e-5)
                .minAbsoluteError(1e-9)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY)));
    }

    @Test
    void reluIsNotFusedWhenTheBatchNormFeedsAnotherVertexToo() {
        ComputationGraphConfiguration conf = convBnRelu(DataType.FLOAT, new Adam(0.01))
                .addLayer("leaky", new ActivationLayer.Builder().activation(Activation.LEAKYRELU).build(), "bn")
                .addVertex("sum", new org.deeplearning4j.nn.conf.graph.ElementWiseVertex(org.deeplearning4j.nn.conf.graph.ElementWiseVertex.Op.Add), "relu", "leaky")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build(), "sum")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        assertEquals(1, FusedBatchNormHelper.install(graph));
        // "bn" also feeds the leaky ReLU, which must see the unclamped values.
        assertEquals(org.deeplearning4j.nn.layers.ActivationLayer.class, graph.getLayer("relu").getClass());
        assertEquals(org.deeplearning4j.nn.layers.ActivationLayer.class, graph.getLayer("leaky").getClass());
    }

    @Test
    void propertyKeepsDl4jsHelper() {
        String before = System.getProperty(FusedBatchNormHelper.ENABLED_PROPERTY);
        System.setProperty(FusedBatchNormHelper.ENABLED_PROPERTY, "false");
        try {
            assertEquals(0, FusedBatchNormHelper.install(graph(DataType.FLOAT, false)));
        } finally {
            if (before == null) {
                System.clearProperty(FusedBatchNormHelper.ENABLED_PROPERTY);
            } else {
                System.setProperty(FusedBatchNormHelper.ENABLED_PROPERTY, before);
            }
        }
    }

    private static void assertClose(INDArray expected, INDArray actual, double tolerance, String what) {
        assertEquals(expected.length(), actual.length(), what + ": length");
        INDArray e = expected.reshape(expected.length()).castTo(DataType.DOUBLE), a = actual.reshape(actual.length()).castTo(DataType.DOUBLE);
        double scale = Math.max(1, e.amaxNumber().doubleValue());
        double difference = e.sub(a).amaxNumber().doubleValue();
        assertTrue(difference <= tolerance * scale, what + ": max |difference| " + difference + " > " + tolerance * scale);
    }
}
