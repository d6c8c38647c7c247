package io.distillery.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The two losses inside a student graph: JSON round trip of the configuration (Spark broadcasts it
 * as JSON) and DL4J's own numerical gradient check of the whole network in double precision.
 */
@org.junit.jupiter.api.extension.ExtendWith(DoublePrecision.class)
class DistillationLossGraphTest {
    private static final int BATCH = 3, CHANNELS = 2, SIZE = 5, CLASSES = 4, CONV = 3, HINT = 2;
    /** Spatial size after the 2x2 convolution (no padding). */
    private static final int MAP = SIZE - 1;


    /**
     * img → conv → dense → "logits" → {cross-entropy on hard labels, KD on teacher logits}, and
     * conv → 1x1 conv connector → flatten → hint loss on a teacher tap.
     */
    private static ComputationGraphConfiguration student(ILossFunction kd, ILossFunction hint) {
        return new NeuralNetConfiguration.Builder()
                .seed(42).dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("img")
                .setInputTypes(InputType.convolutional(SIZE, SIZE, CHANNELS))
                .addLayer("conv", new ConvolutionLayer.Builder(2, 2).nOut(CONV).activation(Activation.TANH).build(), "img")
                .addLayer("dense", new DenseLayer.Builder().nOut(6).activation(Activation.TANH).build(), "conv")
                .addLayer("logits", new DenseLayer.Builder().nOut(CLASSES).activation(Activation.IDENTITY).build(), "dense")
                .addLayer("ce", new LossLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .activation(Activation.SOFTMAX).build(), "logits")
                .addLayer("kd", new LossLayer.Builder(kd).activation(Activation.IDENTITY).build(), "logits")
                .addLayer("connector", new ConvolutionLayer.Builder(1, 1).nOut(HINT)
                        .activation(Activation.IDENTITY).build(), "conv")
                .addLayer("hint", new LossLayer.Builder(hint).activation(Activation.IDENTITY).build(),
                        new CnnToFeedForwardPreProcessor(MAP, MAP, HINT), "connector")
                .setOutputs("ce", "kd", "hint")
                .build();
    }

    private static ILossFunction lossOf(ComputationGraphConfiguration conf, String vertex) {
        return ((LossLayer) ((LayerVertex) conf.getVertices().get(vertex)).getLayerConf().getLayer()).getLossFn();
    }

    @Test
    void configurationSurvivesJsonAndJavaSerialization() throws Exception {
        ComputationGraphConfiguration conf = student(new KnowledgeDistillationLoss(2.5, 0.7), new HintLoss(0.05));
        String json = conf.toJson();
        assertTrue(json.contains("io.distillery.loss.KnowledgeDistillationLoss") && json.contains("\"temperature\""), json);

        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(json);
        assertEquals(conf, back);
        KnowledgeDistillationLoss kd = (KnowledgeDistillationLoss) lossOf(back, "kd");
        assertEquals(2.5, kd.getTemperature());
        assertEquals(0.7, kd.getWeight());
        assertEquals(0.05, ((HintLoss) lossOf(back, "hint")).getWeight());
        assertEquals(json, back.toJson());
        assertFalse(conf.equals(ComputationGraphConfiguration.fromJson(
                student(new KnowledgeDistillationLoss(2.5, 0.8), new HintLoss(0.05)).toJson())), "weights compared");

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(new KnowledgeDistillationLoss(3, 0.2));
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(new KnowledgeDistillationLoss(3, 0.2), in.readObject());
        }
    }

    private static boolean gradientCheck(ILossFunction kd, ILossFunction hint) {
        ComputationGraph graph = new ComputationGraph(student(kd, hint));
        graph.init();
        Nd4j.getRandom().setSeed(7);
        INDArray img = Nd4j.rand(DataType.DOUBLE, BATCH, CHANNELS, SIZE, SIZE);
        INDArray hard = Nd4j.zeros(DataType.DOUBLE, BATCH, CLASSES);
        for (int i = 0; i < BATCH; i++) {
            hard.putScalar(i, i % CLASSES, 1);
        }
        INDArray teacherLogits = Nd4j.randn(DataType.DOUBLE, BATCH, CLASSES).muli(3);
        INDArray teacherTap = Nd4j.randn(DataType.DOUBLE, BATCH, HINT * MAP * MAP);
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(graph)
                .inputs(new INDArray[] {img})
                .labels(new INDArray[] {hard, teacherLogits, teacherTap})
                .epsilon(1e-6)
                .maxRelError(1e-6)
                .minAbsoluteError(1e-9)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    }

    @Test
    void wholeNetworkPassesDl4jGradientCheck() {
        assertTrue(gradientCheck(new KnowledgeDistillationLoss(2.0, 0.7), new HintLoss(0.5)));
    }

    @Test
    void gradientCheckCatchesAKdGradientMissingItsTemperatureFactor() {
        assertFalse(gradientCheck(new GradientScaledLoss(new KnowledgeDistillationLoss(2.0, 0.7), 1 / 2.0), new HintLoss(0.5)));
    }

    @Test
    void gradientCheckCatchesAHintGradientMissingItsFactorTwo() {
        assertFalse(gradientCheck(new KnowledgeDistillationLoss(2.0, 0.7), new GradientScaledLoss(new HintLoss(0.5), 0.5)));
    }
}
