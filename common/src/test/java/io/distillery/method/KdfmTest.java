package io.distillery.method;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.config.MethodSettings;
import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import io.distillery.train.HeadSchedule;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * KDFM's shared classifier (the teacher's frozen head under the student, deployed with it) and its
 * adversary (a discriminator over stored teacher maps fed as a second graph input).
 */
class KdfmTest {
    private static final TrainSettings TRAIN = new TrainSettings(1, 8, 0.01, "constant", 1e-4, 0, 1, 7);
    private static final ModelSpec STUDENT = new ModelSpec("cnn", List.of(16, 32, 64), List.of(1, 1, 2));
    private static final ModelSpec TEACHER = new ModelSpec("resnet", List.of(32, 64, 128), List.of(1, 1, 1));
    private static final ImageShape MNIST = new ImageShape(28, 28, 1);

    private static ComputationGraph teacherModel() {
        ComputationGraph t = new ComputationGraph(ModelZoo.classifier(TEACHER, MNIST, 10, TRAIN));
        t.init();
        return t;
    }

    private static MethodSettings.Kdfm settings(boolean shared, double adversary, String tap) {
        return new MethodSettings.Kdfm(MethodSettings.RECONSTRUCTED_V0, shared, "stage3", tap, adversary, 2, 0.9);
    }

    private static DistillationGraph build(MethodSettings.Kdfm settings, ComputationGraph teacher) {
        List<DistillationMethod> methods = List.of(new LabelCrossEntropy(0.3, 10), new HintonKd(0.7, 4, 10), new Kdfm(settings, () -> teacher));
        return StudentGraphs.build(STUDENT, MNIST, 10, TRAIN, methods, FeatureMethodsTest.teacher());
    }

    @Test
    void sharedClassifierIsTheTeachersFrozenHeadAndShipsWithTheStudent() {
        ComputationGraph teacher = teacherModel();
        DistillationGraph g = build(settings(true, 0, "stage3"), teacher);
        assertEquals(List.of("output", "kd"), g.outputs());
        ComputationGraph net = g.newGraph();
        assertInstanceOf(FrozenLayerWithBackprop.class,
                ((org.deeplearning4j.nn.conf.graph.LayerVertex) net.getConfiguration().getVertices().get(ModelZoo.LOGITS)).getLayerConf().getLayer());
        assertEquals(teacher.getLayer(ModelZoo.LOGITS).params(), net.getLayer(ModelZoo.LOGITS).params());

        Nd4j.getRandom().setSeed(2);
        INDArray x = Nd4j.rand(8, 1, 28, 28);
        MultiDataSet batch = new MultiDataSet(new INDArray[]{x}, new INDArray[]{Nd4j.eye(10).getRows(0, 1, 2, 3, 4, 5, 6, 7), Nd4j.randn(8, 10)});
        INDArray connectorBefore = net.getLayer(Kdfm.CONNECTOR).params().dup();
        for (int i = 0; i < 3; i++) {
            net.fit(batch);
        }
        assertEquals(teacher.getLayer(ModelZoo.LOGITS).params(), net.getLayer(ModelZoo.LOGITS).params(), "the shared head stays frozen");
        assertFalse(connectorBefore.equals(net.getLayer(Kdfm.CONNECTOR).params()), "the connector learns through the frozen head");

        ComputationGraph deployed = StudentGraphs.deployable(net);
        assertTrue(deployed.getConfiguration().getVertices().containsKey(Kdfm.CONNECTOR));
        assertEquals(net.numParams(), deployed.numParams(), "nothing but the heads' loss layers to drop");
        assertTrue(net.output(x)[0].equalsWithEps(deployed.outputSingle(x), 1e-6));
        // 64->128 1x1 connector (no bias) + its batch norm (4 x 128) + the teacher's dense 128 -> 10.
        ComputationGraph plain = StudentGraphs.deployable(build(settings(false, 0.1, "stage3"), teacher).newGraph());
        assertEquals(plain.numParams() - plain.getLayer(ModelZoo.LOGITS).numParams() + 64 * 128 + 4 * 128 + 128 * 10 + 10, deployed.numParams());
    }

    @Test
    void adversaryJudgesStoredTeacherMapsFedAsASecondInputAndIsDroppedOnDeployment() {
        DistillationGraph g = build(settings(true, 0.1, "stage3"), teacherModel());
        assertEquals(List.of("output", "kd", Kdfm.ADVERSARY), g.outputs());
        assertEquals(List.of(Kdfm.TEACHER_INPUT), g.extraInputs().stream().map(GraphInput::name).toList());
        assertEquals("tap_stage3", g.extraInputs().get(0).column().column());
        assertEquals(new LabelSource.Zeros(1), g.labels().get(2));
        ComputationGraph net = g.newGraph();

        Nd4j.getRandom().setSeed(4);
        int n = 8;
        INDArray x = Nd4j.rand(n, 1, 28, 28);
        INDArray teacherMaps = Nd4j.rand(n, 128, 7, 7).muli(3);
        MultiDataSet batch = new MultiDataSet(new INDArray[]{x, teacherMaps},
                new INDArray[]{Nd4j.eye(10).getRows(0, 1, 2, 3, 4, 5, 6, 7), Nd4j.randn(n, 10), Nd4j.zeros(n, 1)});
        INDArray[] out = net.output(x, teacherMaps);
        assertArrayEquals(new long[]{n, 2}, out[2].shape(), "one (student, teacher) pair of discriminator logits per example");
        for (int i = 0; i < 5; i++) {
            net.fit(batch);
        }
        ComputationGraph deployed = StudentGraphs.deployable(net);
        assertEquals(List.of(ModelZoo.INPUT), deployed.getConfiguration().getNetworkInputs());
        assertFalse(deployed.getConfiguration().getVertices().keySet().stream().anyMatch(v -> v.startsWith("kdfm_d")));
        assertTrue(net.output(x, teacherMaps)[0].equalsWithEps(deployed.outputSingle(x), 1e-6));
    }

    @Test
    void adversarialWeightRampsInAndTheRampReachesTheLoss() {
        Kdfm kdfm = new Kdfm(settings(false, 0.1, "stage3"), () -> null);
        assertEquals(Map.of(Kdfm.ADVERSARY, List.of(0.5, 1.0)), kdfm.schedule(List.of("output", Kdfm.ADVERSARY)));
        ComputationGraph net = build(settings(false, 0.1, "stage3"), null).newGraph();
        new HeadSchedule(kdfm.schedule(List.of())).apply(net, 0);
        assertTrue(net.getConfiguration().toJson().contains("\"factor\" : 0.5"));
    }

    @Test
    void sharedClassifierNeedsTheTapThatFeedsTheTeachersHead() {
        String message = assertThrows(BadInputException.class, () -> build(
                new MethodSettings.Kdfm(MethodSettings.RECONSTRUCTED_V0, true, "stage2", "stage2", 0, 2, 0.9), teacherModel())).getMessage();
        assertTrue(message.contains("'pool'") && message.contains("stage2") && message.contains("[stage3]"), message);
    }
}
