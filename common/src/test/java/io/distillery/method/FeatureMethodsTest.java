package io.distillery.method;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.config.MethodSettings;
import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * AT, RTK and InDistill as student heads over a teacher-outputs manifest like the one precompute
 * writes for the demo's ResNet (stage widths 32/64/128 on 28x28): which columns each reads, shape
 * errors, InDistill's curriculum, and that the graphs train.
 */
class FeatureMethodsTest {
    private static final TrainSettings TRAIN = new TrainSettings(1, 8, 0.01, "constant", 0, 0, 1, 7);
    private static final ModelSpec STUDENT = new ModelSpec("cnn", List.of(16, 32, 64), List.of(1, 1, 2));
    private static final ImageShape MNIST = new ImageShape(28, 28, 1);

    private static ColumnSpec tap(String layer, String transform, List<Integer> shape) {
        String spec = transform == null ? layer : layer + ":" + transform;
        return new ColumnSpec(TeacherOutputsTable.tapColumn(spec), "binary", "float16-le", shape, shape.size() == 3 ? "CHW" : "HW", layer,
                "tap", transform, null);
    }

    static TeacherOutputs teacher() {
        List<ColumnSpec> columns = List.of(
                new ColumnSpec(TeacherOutputsTable.LOGITS, "binary", "float32-le", List.of(10), "K", null, "logits"),
                tap("stage2", null, List.of(64, 14, 14)),
                tap("stage3", null, List.of(128, 7, 7)),
                tap("stage2", "attention", List.of(14, 14)),
                tap("stage3", "attention", List.of(7, 7)),
                tap("stage1", "prune-l1=16", List.of(16, 28, 28)),
                tap("stage2", "prune-l1=32", List.of(32, 14, 14)),
                tap("stage3", "prune-l1=64", List.of(64, 7, 7)));
        return new TeacherOutputs("resnet", new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 100, "h", columns, Map.of(), null));
    }

    private static DistillationGraph build(DistillationMethod... methods) {
        List<DistillationMethod> all = new ArrayList<>(List.of(new LabelCrossEntropy(1, 10), new HintonKd(1, 4, 10)));
        all.addAll(List.of(methods));
        return StudentGraphs.build(STUDENT, MNIST, 10, TRAIN, all, teacher());
    }

    private static final List<String> MID = List.of("stage2", "stage3");
    private static final List<String> ALL = List.of("stage1", "stage2", "stage3");

    @Test
    void attentionTransferReadsTheStoredAttentionMaps() {
        DistillationGraph g = build(new AttentionTransfer(1000, MID, MID));
        assertEquals(List.of("output", "kd", "at_stage2", "at_stage3"), g.outputs());
        assertEquals(List.of("tap_stage2_attention", "tap_stage3_attention"), columns(g.labels()).subList(2, 4));
        assertEquals(List.of(196, 49), g.labels().subList(2, 4).stream().map(LabelSource::width).toList());
        ComputationGraph net = g.newGraph();
        INDArray[] out = net.output(Nd4j.rand(2, 1, 28, 28));
        assertArrayEquals(new long[]{2, 196}, out[2].shape());
    }

    @Test
    void representativeTeacherKeysReadTheRawTaps() {
        DistillationGraph g = build(new RepresentativeTeacherKeys(new MethodSettings.Rtk(MethodSettings.RECONSTRUCTED_V0, 1000, 0.5, 0.1, MID, MID)));
        assertEquals(List.of("output", "kd", "rtk_stage2", "rtk_stage3"), g.outputs());
        assertEquals(List.of(64 * 196, 128 * 49), g.labels().subList(2, 4).stream().map(LabelSource::width).toList());
    }

    @Test
    void inDistillRegressesTheTapsPrunedToTheStudentsWidths() {
        DistillationGraph g = build(new InDistill(new MethodSettings.InDistill(1, ALL, ALL, List.of(1, 2, 1))));
        assertEquals(List.of("output", "kd", "indistill_stage1", "indistill_stage2", "indistill_stage3"), g.outputs());
        assertEquals(List.of("tap_stage1_prune_l1_16", "tap_stage2_prune_l1_32", "tap_stage3_prune_l1_64"), columns(g.labels()).subList(2, 5));
        assertEquals(List.of(16 * 784, 32 * 196, 64 * 49), g.labels().subList(2, 5).stream().map(LabelSource::width).toList());
    }

    @Test
    void inDistillCurriculumTrainsOneLayerAtATimeThenTheFinalObjective() {
        InDistill method = new InDistill(new MethodSettings.InDistill(1, ALL, ALL, List.of(1, 2, 1)));
        List<String> heads = List.of("output", "kd", "indistill_stage1", "indistill_stage2", "indistill_stage3");
        Map<String, List<Double>> s = method.schedule(heads);
        assertEquals(List.of(0.0, 0.0, 0.0, 0.0, 1.0), s.get("output"));
        assertEquals(List.of(0.0, 0.0, 0.0, 0.0, 1.0), s.get("kd"));
        assertEquals(List.of(1.0, 0.0, 0.0, 0.0, 0.0), s.get("indistill_stage1"));
        assertEquals(List.of(0.0, 1.0, 1.0, 0.0, 0.0), s.get("indistill_stage2"));
        assertEquals(List.of(0.0, 0.0, 0.0, 1.0, 0.0), s.get("indistill_stage3"));
        // A configured schedule overrides the method's for its head; a head that does not exist is refused.
        Map<String, List<Double>> merged = StudentGraphs.schedule(List.of(method), heads, Map.of("kd", List.of(0.5)));
        assertEquals(List.of(0.5), merged.get("kd"));
        assertEquals(List.of(0.0, 0.0, 0.0, 0.0, 1.0), merged.get("output"));
        String message = assertThrows(BadInputException.class, () -> StudentGraphs.schedule(List.of(method), heads, Map.of("hint", List.of(1.0))))
                .getMessage();
        assertTrue(message.contains("distill.schedule.hint") && message.contains("indistill_stage1"), message);
    }

    @Test
    void aMissingTransformedTapNamesItAndWhereToAddIt() {
        // A student 8 channels wide at stage1 needs stage1 pruned to 8 channels, which precompute did not store.
        ModelSpec narrow = new ModelSpec("cnn", List.of(8, 32, 64), List.of(1, 1, 2));
        List<DistillationMethod> methods = List.of(new LabelCrossEntropy(1, 10),
                new InDistill(new MethodSettings.InDistill(1, List.of("stage1"), List.of("stage1"), List.of(1))));
        String message = assertThrows(BadInputException.class, () -> StudentGraphs.build(narrow, MNIST, 10, TRAIN, methods, teacher())).getMessage();
        assertTrue(message.contains("stage1:prune-l1=8") && message.contains("precompute.taps"), message);
    }

    @Test
    void aSpatialMismatchNamesBothSides() {
        String message = assertThrows(BadInputException.class,
                () -> build(new AttentionTransfer(1000, List.of("stage1"), List.of("stage3")))).getMessage();
        assertTrue(message.contains("'stage1'") && message.contains("28x28") && message.contains("stage3:attention") && message.contains("49"), message);
        message = assertThrows(BadInputException.class, () -> build(new RepresentativeTeacherKeys(
                new MethodSettings.Rtk(MethodSettings.RECONSTRUCTED_V0, 1, 1, 1, List.of("stage2"), List.of("stage3"))))).getMessage();
        assertTrue(message.contains("'stage2'") && message.contains("14x14") && message.contains("[128, 7, 7]"), message);
        message = assertThrows(BadInputException.class, () -> build(new AttentionTransfer(1, List.of("stage3", "stage3"), List.of("stage3", "stage3")))).getMessage();
        assertTrue(message.contains("at_stage3") && message.contains("twice"), message);
    }

    /** All three methods in one graph: a few Adam steps on a fixed batch lower every feature head's loss. */
    @Test
    void theCombinedGraphTrainsAndEveryFeatureHeadsLossFalls() {
        DistillationGraph g = build(new AttentionTransfer(1000, MID, MID),
                new RepresentativeTeacherKeys(new MethodSettings.Rtk(MethodSettings.RECONSTRUCTED_V0, 1000, 0.5, 0.1, MID, MID)),
                new InDistill(new MethodSettings.InDistill(1, ALL, ALL, List.of(1, 1, 1))));
        ComputationGraph net = g.newGraph();
        Nd4j.getRandom().setSeed(9);
        int n = 16;
        INDArray[] labels = new INDArray[g.labels().size()];
        for (int h = 0; h < labels.length; h++) {
            int width = g.labels().get(h).width();
            labels[h] = h == 0 ? Nd4j.eye(10).getRows(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5) : Nd4j.rand(n, width);
        }
        // Attention targets are unit-norm maps, as stored.
        for (int h : new int[]{2, 3}) {
            labels[h].diviColumnVector(labels[h].norm2(true, 1));
        }
        MultiDataSet batch = new MultiDataSet(new INDArray[]{Nd4j.rand(n, 1, 28, 28)}, labels);
        double[] before = headScores(net, batch);
        for (int step = 0; step < 30; step++) {
            net.fit(batch);
        }
        double[] after = headScores(net, batch);
        for (int h = 2; h < before.length; h++) {
            assertTrue(after[h] < before[h], g.outputs().get(h) + ": " + before[h] + " -> " + after[h]);
        }
    }

    private static double[] headScores(ComputationGraph net, MultiDataSet batch) {
        List<String> outputs = net.getConfiguration().getNetworkOutputs();
        Map<String, INDArray> acts = net.feedForward(batch.getFeatures(), false, false);
        double[] scores = new double[outputs.size()];
        for (int h = 0; h < outputs.size(); h++) {
            var layer = (org.deeplearning4j.nn.conf.layers.LossLayer) net.getLayer(outputs.get(h)).conf().getLayer();
            var vertex = (org.deeplearning4j.nn.conf.graph.LayerVertex) net.getConfiguration().getVertices().get(outputs.get(h));
            INDArray in = acts.get(net.getConfiguration().getVertexInputs().get(outputs.get(h)).get(0));
            if (vertex.getPreProcessor() != null) {
                in = vertex.getPreProcessor().preProcess(in, (int) in.size(0), org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces());
            }
            scores[h] = layer.getLossFn().computeScore(batch.getLabels(h), in.dup(), layer.getActivationFn(), null, true);
        }
        return scores;
    }

    private static List<String> columns(List<LabelSource> labels) {
        return labels.stream().map(l -> l instanceof LabelSource.TeacherColumn c ? c.column() : "class").toList();
    }
}
