package io.distillery.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.layer.GradientReversal;
import io.distillery.loss.DoublePrecision;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** {@link HeaderAttention}: the card's formula by hand, the mean at initialisation, and DL4J's gradient check in double. */
@ExtendWith(DoublePrecision.class)
class HeaderAttentionTest {
    private static final int HEADERS = 3, CLASSES = 4, BATCH = 5, FEATURES = 6;
    /** The all-ones widening layers are frozen: their gradient is 0 by design, not the score's. */
    private static final java.util.Set<String> FROZEN = java.util.Set.of("attention_alpha0_wide_W", "attention_alpha1_wide_W",
            "attention_alpha2_wide_W");

    /** x → one dense "header" per input → attention → softmax cross-entropy; optionally a reversal after header 1. */
    private static ComputationGraph graph(boolean reversal) {
        ComputationGraphConfiguration.GraphBuilder b = new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE)
                .updater(new NoOp()).graphBuilder()
                .addInputs("x").setInputTypes(InputType.feedForward(FEATURES));
        String[] headers = new String[HEADERS];
        for (int i = 0; i < HEADERS; i++) {
            headers[i] = "h" + i;
            b.addLayer(headers[i], new DenseLayer.Builder().nOut(CLASSES).activation(Activation.TANH).build(), "x");
        }
        if (reversal) {
            b.addLayer("h1_reversed", new GradientReversal(1.0), "h1");
            headers[1] = "h1_reversed";
        }
        HeaderAttention.add(b, "attention", headers, CLASSES);
        ComputationGraph g = new ComputationGraph(b
                .addLayer("out", new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).build(), "attention")
                .setOutputs("out").build());
        g.init();
        return g;
    }

    private static MultiDataSet data() {
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.randn(DataType.DOUBLE, BATCH, FEATURES);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, BATCH, CLASSES);
        for (int i = 0; i < BATCH; i++) {
            y.putScalar(i, i % CLASSES, 1);
        }
        return new MultiDataSet(x, y);
    }

    private static void randomAttention(ComputationGraph g) {
        Nd4j.getRandom().setSeed(5);
        g.getLayer(HeaderAttention.SCORE).setParam("W", Nd4j.randn(DataType.DOUBLE, CLASSES, 1).muli(1.5));
        g.getLayer(HeaderAttention.SCORE).setParam("b", Nd4j.zeros(DataType.DOUBLE, 1, 1).addi(0.3));
    }

    @Test
    void startsAsTheHeadersMeanAndComputesTheCardsFormula() {
        ComputationGraph g = graph(false);
        MultiDataSet d = data();
        var acts = g.feedForward(d.getFeatures(0), false);
        INDArray mean = acts.get("h0").add(acts.get("h1")).add(acts.get("h2")).divi(HEADERS);
        assertTrue(mean.equalsWithEps(acts.get("attention"), 1e-12), "w = 0, b = 0: the mean of the headers");

        randomAttention(g);
        acts = g.feedForward(d.getFeatures(0), false);
        INDArray w = g.getLayer(HeaderAttention.SCORE).getParam("W");
        double bias = g.getLayer(HeaderAttention.SCORE).getParam("b").getDouble(0);
        INDArray out = acts.get("attention");
        for (int r = 0; r < BATCH; r++) {
            double[] score = new double[HEADERS];
            double max = Double.NEGATIVE_INFINITY, z = 0;
            for (int i = 0; i < HEADERS; i++) {
                score[i] = acts.get("h" + i).getRow(r).mmul(w).getDouble(0) + bias;
                max = Math.max(max, score[i]);
            }
            for (int i = 0; i < HEADERS; i++) {
                z += Math.exp(score[i] - max);
            }
            for (int c = 0; c < CLASSES; c++) {
                double expected = 0;
                for (int i = 0; i < HEADERS; i++) {
                    expected += Math.exp(score[i] - max) / z * acts.get("h" + i).getDouble(r, c);
                }
                assertEquals(expected, out.getDouble(r, c), 1e-12, "row " + r + ", class " + c);
            }
        }
        assertFalse(mean.equalsWithEps(out, 1e-3), "trained weights move it away from the mean");
    }

    @Test
    void passesDl4jGradientCheckInDoublePrecision() {
        ComputationGraph g = graph(false);
        randomAttention(g);
        assertTrue(check(g), "attention score weights and every header's input gradient");
    }

    @Test
    void negativeControlTheSameCheckCatchesAWrongGradient() {
        // A gradient reversal on one header makes the backward pass wrong by construction (−ε instead of ε).
        ComputationGraph g = graph(true);
        randomAttention(g);
        assertFalse(check(g));
    }

    @Test
    void survivesJsonAndKeepsItsParameters() {
        ComputationGraph g = graph(false);
        randomAttention(g);
        ComputationGraph copy = new ComputationGraph(ComputationGraphConfiguration.fromJson(g.getConfiguration().toJson()));
        copy.init(g.params().dup(), false);
        MultiDataSet d = data();
        assertEquals(g.outputSingle(d.getFeatures(0)), copy.outputSingle(d.getFeatures(0)));
    }

    private static boolean check(ComputationGraph g) {
        MultiDataSet d = data();
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(g).inputs(d.getFeatures()).labels(d.getLabels())
                .excludeParams(FROZEN).epsilon(1e-6).maxRelError(1e-6).minAbsoluteError(1e-9).print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    }
}
