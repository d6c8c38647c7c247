package io.distillery.layer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.loss.AdversarialGraphs;
import io.distillery.loss.DoublePrecision;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.Map;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link GradientReversal} in a feed-forward graph x → dense "up" → grl → dense "down" → MSE. With
 * λ = −1 the reversal is the identity and DL4J's gradient check must pass; otherwise "up" must get
 * exactly −λ times the numerical gradient of the score and "down" the gradient itself. The
 * convolutional case runs in {@code AdversarialSubGraphTest}.
 */
@ExtendWith(DoublePrecision.class)
class GradientReversalTest {
    private static final int BATCH = 4, IN = 3, HIDDEN = 5, OUT = 2;
    private static final double EPS = 1e-6, MAX_REL_ERROR = 1e-6, MIN_ABS_ERROR = 1e-9;

    private static ComputationGraphConfiguration graph(double lambda) {
        return new NeuralNetConfiguration.Builder()
                .seed(3).dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("x")
                .setInputTypes(InputType.feedForward(IN))
                .addLayer("up", new DenseLayer.Builder().nOut(HIDDEN).activation(Activation.TANH).build(), "x")
                .addLayer("grl", new GradientReversal(lambda), "up")
                .addLayer("down", new DenseLayer.Builder().nOut(OUT).activation(Activation.TANH).build(), "grl")
                .addLayer("mse", new LossLayer.Builder(LossFunctions.LossFunction.MSE)
                        .activation(Activation.IDENTITY).build(), "down")
                .setOutputs("mse")
                .build();
    }

    private static MultiDataSet data() {
        Nd4j.getRandom().setSeed(17);
        return new MultiDataSet(Nd4j.randn(DataType.DOUBLE, BATCH, IN), Nd4j.randn(DataType.DOUBLE, BATCH, OUT));
    }

    private static boolean gradientCheck(double lambda) {
        MultiDataSet data = data();
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(AdversarialGraphs.init(graph(lambda)))
                .inputs(data.getFeatures())
                .labels(data.getLabels())
                .epsilon(EPS)
                .maxRelError(MAX_REL_ERROR)
                .minAbsoluteError(MIN_ABS_ERROR)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    }

    @Test
    void passesGradientCheckWhenLambdaIsMinusOne() {
        assertTrue(gradientCheck(-1));
    }

    @Test
    void failsGradientCheckWhenItReverses() {
        assertFalse(gradientCheck(1));
    }

    private static void assertGradients(ComputationGraph graph, double expectedUpstreamFactor) {
        MultiDataSet data = data();
        Map<String, INDArray> analytic = AdversarialGraphs.analyticGradient(graph, data);
        Map<String, INDArray> numeric = AdversarialGraphs.numericGradient(graph, data, EPS);
        assertEquals(numeric.keySet(), analytic.keySet());
        for (String name : numeric.keySet()) {
            double factor = name.startsWith("up_") ? expectedUpstreamFactor : 1;
            INDArray expected = numeric.get(name).mul(factor);
            double error = AdversarialGraphs.maxRelativeError(analytic.get(name), expected, MIN_ABS_ERROR);
            assertTrue(error < MAX_REL_ERROR, name + ": relative error " + error + " (factor " + factor + ")");
            assertTrue(numeric.get(name).norm2Number().doubleValue() > 1e-6, name + " has a gradient at all");
        }
    }

    @ParameterizedTest
    @ValueSource(doubles = {1, 0.5, 0, -1, -2})
    void upstreamGetsMinusLambdaTimesTheGradientDownstreamIsUnaffected(double lambda) {
        assertGradients(AdversarialGraphs.init(graph(lambda)), -lambda);
    }

    @Test
    void lambdaCanBeChangedOnALiveGraph() {
        ComputationGraph graph = AdversarialGraphs.init(graph(1));
        assertGradients(graph, -1);
        GradientReversal.setLambda(graph, "grl", 0.3);
        assertGradients(graph, -0.3);
        assertTrue(graph.getConfiguration().toJson().contains("\"lambda\" : 0.3"), "the configuration Spark broadcasts");
        assertEquals(0.3, ((GradientReversal) graph.getLayer("grl").conf().getLayer()).getLambda());
        assertTrue(graph.getLayer("grl") instanceof GradientReversalImpl, "the configuration instantiates GradientReversalImpl");

        assertThrows(IllegalArgumentException.class, () -> GradientReversal.setLambda(graph, "nope", 1));
        assertThrows(IllegalArgumentException.class, () -> GradientReversal.setLambda(graph, "up", 1));
        assertThrows(IllegalArgumentException.class, () -> GradientReversal.setLambda(graph, "grl", Double.NaN));
    }

    @Test
    void forwardIsTheIdentity() {
        ComputationGraph graph = AdversarialGraphs.init(graph(1));
        for (boolean training : new boolean[] {false, true}) {
            Map<String, INDArray> activations = graph.feedForward(data().getFeatures(), training);
            assertEquals(activations.get("up"), activations.get("grl"));
        }
    }

    @Test
    void outputTypeIsInputTypeWithoutPreprocessor() {
        GradientReversal grl = new GradientReversal(0.5);
        for (InputType type : new InputType[] {InputType.feedForward(7), InputType.convolutional(4, 5, 3),
                InputType.recurrent(6, 9), InputType.convolutionalFlat(4, 4, 1)}) {
            assertEquals(type, grl.getOutputType(0, type));
            assertNull(grl.getPreProcessorForInputType(type));
        }
        assertEquals(0, grl.initializer().numParams(grl));
    }

    @Test
    void configurationBasics() throws Exception {
        GradientReversal grl = new GradientReversal.Builder().lambda(0.2).name("grl").build();
        assertEquals(0.2, grl.getLambda());
        assertEquals("grl", grl.getLayerName());
        assertEquals(GradientReversal.DEFAULT_LAMBDA, new GradientReversal().getLambda());
        assertEquals(new GradientReversal(0.2), new GradientReversal(0.2));
        assertEquals(new GradientReversal(0.2).hashCode(), new GradientReversal(0.2).hashCode());
        assertNotEquals(new GradientReversal(0.2), new GradientReversal(0.3));
        assertEquals(grl, grl.clone());
        GradientReversal copy = grl.clone();
        copy.setLambda(0.9);
        assertEquals(0.2, grl.getLambda(), "clone is independent");
        assertThrows(IllegalArgumentException.class, () -> new GradientReversal(Double.POSITIVE_INFINITY));

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(grl);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(grl, in.readObject());
        }

        ComputationGraphConfiguration conf = graph(0.75);
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(conf.toJson());
        assertEquals(conf, back);
        assertEquals(conf.toJson(), back.toJson());
    }
}
