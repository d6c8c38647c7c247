package io.distillery.loss;

import static io.distillery.loss.AdversarialGraphs.ADV;
import static io.distillery.loss.AdversarialGraphs.GRL;
import static io.distillery.loss.AdversarialGraphs.LOGIT;
import static io.distillery.loss.AdversarialGraphs.PAIRS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.layer.GradientReversal;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.Map;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/**
 * KDFM's adversarial sub-graph as one DL4J graph with two inputs (student input, teacher map):
 * student → GradientReversal → stack with the teacher map → D → pairs → LossLayer(AdversarialLoss).
 * DL4J's numerical gradient check in double precision (with λ = −1, where the reversal is the
 * identity), the reversed gradient with λ = 1, and configuration round trips.
 */
@ExtendWith(DoublePrecision.class)
class AdversarialSubGraphTest {
    private static final AdversarialLoss LOSS = new AdversarialLoss(0.7, 0.9);
    private static final double EPS = 1e-6, MAX_REL_ERROR = 1e-6, MIN_ABS_ERROR = 1e-9;

    private static boolean gradientCheck(ComputationGraphConfiguration conf) {
        ComputationGraph graph = AdversarialGraphs.init(conf);
        MultiDataSet data = AdversarialGraphs.data(7);
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(graph)
                .inputs(data.getFeatures())
                .labels(data.getLabels())
                .epsilon(EPS)
                .maxRelError(MAX_REL_ERROR)
                .minAbsoluteError(MIN_ABS_ERROR)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    }

    @Test
    void subGraphPassesDl4jGradientCheck() {
        assertTrue(gradientCheck(AdversarialGraphs.subGraph(-1, LOSS)));
    }

    @Test
    void gradientCheckCatchesALossGradientTenPercentTooLarge() {
        assertFalse(gradientCheck(AdversarialGraphs.subGraph(-1, new GradientScaledLoss(LOSS, 1.1))));
    }

    /** The check covers the student's parameters behind the stack: a real reversal (λ = 1) shows. */
    @Test
    void gradientCheckSeesTheReversal() {
        assertFalse(gradientCheck(AdversarialGraphs.subGraph(1, LOSS)));
    }

    @Test
    void graphScoreIsTheLossAveragedOverTheMinibatch() {
        ComputationGraph graph = AdversarialGraphs.init(AdversarialGraphs.subGraph(1, LOSS));
        MultiDataSet data = AdversarialGraphs.data(3);
        Map<String, INDArray> activations = graph.feedForward(data.getFeatures(), false);
        INDArray pairs = activations.get(PAIRS);
        INDArray stacked = activations.get(LOGIT);
        assertEquals(AdversarialGraphs.BATCH, pairs.rows());
        for (int i = 0; i < AdversarialGraphs.BATCH; i++) {
            assertEquals(stacked.getDouble(i, 0), pairs.getDouble(i, 0), 0, "student logit of example " + i);
            assertEquals(stacked.getDouble(AdversarialGraphs.BATCH + i, 0), pairs.getDouble(i, 1), 0,
                    "teacher logit of example " + i);
        }
        double expected = LOSS.computeScore(data.getLabels(0), pairs, Activation.IDENTITY.getActivationFunction(),
                null, true);
        assertEquals(expected, graph.score(data, false), 1e-12);
        assertEquals(AdversarialLoss.discriminatorAccuracy(stacked), AdversarialLoss.discriminatorAccuracy(pairs));
    }

    /**
     * Why the pairs vertex: fed straight into a LossLayer, D's [2B, 1] logits are scored per input row
     * (÷ 2B) while gradients are divided by the labels' B rows, so the reported score is half the
     * objective being optimised and DL4J's gradient check fails.
     */
    @Test
    void stackedLogitsStraightIntoALossLayerAreMisScaled() {
        ILossFunction stackedLoss = new StackedRows(LOSS);
        ComputationGraphConfiguration conf = AdversarialGraphs.subGraph(-1, stackedLoss, DataType.DOUBLE, new NoOp(),
                WorkspaceMode.ENABLED, false);
        ComputationGraph graph = AdversarialGraphs.init(conf);
        MultiDataSet data = AdversarialGraphs.data(3);
        INDArray stacked = graph.feedForward(data.getFeatures(), false).get(LOGIT);
        double objective = stackedLoss.computeScore(data.getLabels(0), stacked,
                Activation.IDENTITY.getActivationFunction(), null, true);
        assertEquals(objective / 2, graph.score(data, false), 1e-12);
        assertFalse(gradientCheck(conf));
    }

    /** With λ = 1 the student's parameters get minus the gradient of the score; D's get the gradient itself. */
    @Test
    void studentParametersGetTheReversedGradient() {
        ComputationGraph graph = AdversarialGraphs.init(AdversarialGraphs.subGraph(1, LOSS));
        MultiDataSet data = AdversarialGraphs.data(5);
        Map<String, INDArray> analytic = AdversarialGraphs.analyticGradient(graph, data);
        Map<String, INDArray> numeric = AdversarialGraphs.numericGradient(graph, data, EPS);
        assertEquals(numeric.keySet(), analytic.keySet());
        for (String name : numeric.keySet()) {
            boolean student = name.startsWith(AdversarialGraphs.STUDENT + "_");
            INDArray expected = student ? numeric.get(name).neg() : numeric.get(name);
            double error = AdversarialGraphs.maxRelativeError(analytic.get(name), expected, MIN_ABS_ERROR);
            assertTrue(error < MAX_REL_ERROR, name + ": relative error " + error);
            assertTrue(numeric.get(name).norm2Number().doubleValue() > 1e-6, name + " has a gradient at all");
        }
    }

    @Test
    void configurationSurvivesJsonJavaSerializationAndModelZip() throws Exception {
        ComputationGraphConfiguration conf = AdversarialGraphs.subGraph(0.25, new AdversarialLoss(0.1, 0.85));
        String json = conf.toJson();
        for (String expected : new String[] {"io.distillery.layer.GradientReversal", "\"lambda\" : 0.25",
                "io.distillery.loss.AdversarialLoss", "\"realLabel\" : 0.85", "StackVertex", "ReshapeVertex"}) {
            assertTrue(json.contains(expected), expected + " in " + json);
        }
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(json);
        assertEquals(conf, back);
        assertEquals(json, back.toJson());
        assertEquals(0.25, grl(back).getLambda());
        AdversarialLoss loss = (AdversarialLoss) ((LossLayer) layerConf(back, ADV)).getLossFn();
        assertEquals(new AdversarialLoss(0.1, 0.85), loss);
        assertNotEquals(conf, ComputationGraphConfiguration.fromJson(
                AdversarialGraphs.subGraph(0.5, new AdversarialLoss(0.1, 0.85)).toJson()), "lambda compared");
        assertNotEquals(conf, ComputationGraphConfiguration.fromJson(
                AdversarialGraphs.subGraph(0.25, new AdversarialLoss(0.1, 0.9)).toJson()), "loss compared");

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(conf);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(conf, in.readObject());
        }

        ComputationGraph graph = AdversarialGraphs.init(conf);
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        ModelSerializer.writeModel(graph, zip, true);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(zip.toByteArray()), true);
        assertEquals(conf, restored.getConfiguration());
        assertEquals(graph.params(), restored.params());
        MultiDataSet data = AdversarialGraphs.data(9);
        assertEquals(graph.score(data, false), restored.score(data, false), 0);
    }

    private static org.deeplearning4j.nn.conf.layers.Layer layerConf(ComputationGraphConfiguration conf, String name) {
        return ((LayerVertex) conf.getVertices().get(name)).getLayerConf().getLayer();
    }

    private static GradientReversal grl(ComputationGraphConfiguration conf) {
        return (GradientReversal) layerConf(conf, GRL);
    }

    /**
     * {@link AdversarialLoss} taking D's stacked [2B, 1] logits directly (student rows first), with
     * B-row labels: the loss itself is exact, only DL4J's scaling of it is not.
     */
    static final class StackedRows implements ILossFunction {
        private final AdversarialLoss loss;

        StackedRows(AdversarialLoss loss) {
            this.loss = loss;
        }

        private static INDArray pairs(INDArray stacked) {
            return stacked.reshape('f', stacked.rows() / 2, 2);
        }

        @Override
        public double computeScore(INDArray labels, INDArray preOutput, IActivation fn, INDArray mask, boolean average) {
            return loss.computeScore(labels, pairs(preOutput), fn, mask, average);
        }

        @Override
        public INDArray computeScoreArray(INDArray labels, INDArray preOutput, IActivation fn, INDArray mask) {
            return loss.computeScoreArray(labels, pairs(preOutput), fn, mask);
        }

        @Override
        public INDArray computeGradient(INDArray labels, INDArray preOutput, IActivation fn, INDArray mask) {
            return loss.computeGradient(labels, pairs(preOutput), fn, mask).reshape('f', preOutput.rows(), 1);
        }

        @Override
        public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation fn,
                INDArray mask, boolean average) {
            return new Pair<>(computeScore(labels, preOutput, fn, mask, average),
                    computeGradient(labels, preOutput, fn, mask));
        }

        @Override
        public String name() {
            return "StackedRows(" + loss + ")";
        }
    }
}
