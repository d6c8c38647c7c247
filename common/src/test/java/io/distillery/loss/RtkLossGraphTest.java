package io.distillery.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.layer.AttentionMapLayer;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/**
 * RTK inside a student graph (img → conv → {@link AttentionMapLayer} → LossLayer(RtkLoss)), in
 * double precision: DL4J's gradient check where the target is locally constant, the frozen-target
 * gradient elsewhere, and the configuration's JSON round trip.
 */
@ExtendWith(DoublePrecision.class)
class RtkLossGraphTest {
    private static final int BATCH = 3, CHANNELS = 2, SIZE = 5, CONV = 3, TEACHER_CHANNELS = 4;
    private static final int MAP = SIZE - 1, HW = MAP * MAP;
    private static final double BETA = 20;

    private static ComputationGraphConfiguration graph(ILossFunction loss) {
        return new NeuralNetConfiguration.Builder()
                .seed(42).dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("img")
                .setInputTypes(InputType.convolutional(SIZE, SIZE, CHANNELS))
                .addLayer("conv", new ConvolutionLayer.Builder(2, 2).nOut(CONV).activation(Activation.TANH).build(), "img")
                .addLayer("at", new AttentionMapLayer(), "conv")
                .addLayer("rtk", new LossLayer.Builder(loss).activation(Activation.IDENTITY).build(), "at")
                .setOutputs("rtk")
                .build();
    }

    private static ComputationGraph init(ILossFunction loss) {
        ComputationGraph net = new ComputationGraph(graph(loss));
        net.init();
        return net;
    }

    private static INDArray images() {
        Nd4j.getRandom().setSeed(7);
        return Nd4j.randn(DataType.DOUBLE, BATCH, CHANNELS, SIZE, SIZE);
    }

    /** Raw teacher activations [B, C·HW], as stored. */
    private static INDArray teacher() {
        Nd4j.getRandom().setSeed(8);
        return Nd4j.randn(DataType.DOUBLE, BATCH, (long) TEACHER_CHANNELS * HW);
    }

    private static boolean gradientCheck(ComputationGraph net, INDArray labels) {
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(net)
                .inputs(new INDArray[] {images()})
                .labels(new INDArray[] {labels})
                .epsilon(1e-6)
                .maxRelError(1e-6)
                .minAbsoluteError(1e-9)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    }

    /** ρ = 0.25 keeps one of four channels (t constant away from ties); ρ = 1 with τ huge is AT. */
    @ParameterizedTest
    @CsvSource({"0.25, 0.1", "1.0, 1e9"})
    void graphPassesDl4jGradientCheckWhereTheTargetIsLocallyConstant(double rho, double tau) {
        assertTrue(gradientCheck(init(new RtkLoss(BETA, rho, tau, TEACHER_CHANNELS, HW)), teacher()));
    }

    @Test
    void gradientCheckCatchesAGradientOffByTenPercent() {
        assertFalse(gradientCheck(init(new GradientScaledLoss(new RtkLoss(BETA, 0.25, 0.1, TEACHER_CHANNELS, HW), 1.1)),
                teacher()));
    }

    /**
     * With two of four channels kept and τ = 0.1 the target moves with the student (a full-derivative
     * check is not expected to pass: the loss stops that gradient). The graph's gradient must then
     * be exactly that of HintLoss against the target frozen at the current student map.
     */
    @Test
    void graphGradientIsTheFrozenTargetHintGradient() {
        RtkLoss rtk = new RtkLoss(BETA, 0.5, 0.1, TEACHER_CHANNELS, HW);
        ComputationGraph rtkNet = init(rtk);
        ComputationGraph hintNet = init(new HintLoss(BETA));
        hintNet.setParams(rtkNet.params());
        INDArray img = images(), teacher = teacher();
        INDArray q = rtkNet.feedForward(img, false).get("at");
        INDArray frozen = rtk.targets(teacher, q);

        Pair<INDArray, Double> viaRtk = gradientAndScore(rtkNet, img, teacher);
        Pair<INDArray, Double> viaHint = gradientAndScore(hintNet, img, frozen);
        assertEquals(viaHint.getSecond(), viaRtk.getSecond(), 1e-12);
        assertTrue(viaRtk.getFirst().equalsWithEps(viaHint.getFirst(), 1e-12));
        assertTrue(viaRtk.getFirst().norm2Number().doubleValue() > 1e-6, "a non-trivial gradient");
        assertTrue(gradientCheck(hintNet, frozen), "the frozen-target gradient is right");
        assertFalse(gradientCheck(rtkNet, teacher), "the score's full derivative differs: t depends on q");
    }

    private static Pair<INDArray, Double> gradientAndScore(ComputationGraph net, INDArray img, INDArray labels) {
        net.setInputs(img);
        net.setLabels(labels);
        net.computeGradientAndScore();
        return new Pair<>(net.gradient().gradient().dup(), net.score());
    }

    @Test
    void configurationSurvivesJsonRoundTrip() {
        ComputationGraphConfiguration conf = graph(new RtkLoss(1000, 0.5, 0.1, TEACHER_CHANNELS, HW));
        String json = conf.toJson();
        assertTrue(json.contains("io.distillery.loss.RtkLoss") && json.contains("\"teacherChannels\""), json);
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(json);
        assertEquals(conf, back);
        assertEquals(json, back.toJson());
        ILossFunction loss = ((LossLayer) ((LayerVertex) back.getVertices().get("rtk")).getLayerConf().getLayer()).getLossFn();
        assertEquals(new RtkLoss(1000, 0.5, 0.1, TEACHER_CHANNELS, HW), loss);
    }
}
