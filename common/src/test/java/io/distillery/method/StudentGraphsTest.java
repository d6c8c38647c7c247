package io.distillery.method;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.config.ModelSpec;
import io.distillery.config.PipelineConfig.DistillSettings;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.TensorEncoding;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Configured methods to student heads and label sources, teacher-shape checks, and the deployable copy. */
class StudentGraphsTest {
    private static final TrainSettings TRAIN = new TrainSettings(1, 8, 0.001, "constant", 0, 0, 1, 7);
    private static final ModelSpec STUDENT = new ModelSpec("cnn", List.of(16, 32, 64), List.of(1, 1, 2));
    private static final ImageShape MNIST = new ImageShape(28, 28, 1);
    private static final int CLASSES = 10;

    /** A teacher-outputs manifest as precompute writes it: float32 logits and a float16 stage3 tap. */
    private static TeacherOutputs teacher(int logitsWidth) {
        List<ColumnSpec> columns = List.of(
                ColumnSpec.plain(TeacherOutputsTable.ID, "int64", "example id"),
                ColumnSpec.plain(TeacherOutputsTable.VIEW, "int32", "view"),
                new ColumnSpec(TeacherOutputsTable.LOGITS, "binary", "float32-le", List.of(logitsWidth), "K", null, "logits"),
                new ColumnSpec("tap_stage3", "binary", "float16-le", List.of(128, 7, 7), "CHW", "stage3", "tap"));
        return new TeacherOutputs("resnet", new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 100, "h", columns, Map.of(), null));
    }

    private static DistillSettings weights(double ce, double kd, double hint, String studentLayer, String teacherTap) {
        return new DistillSettings(TRAIN, ce, kd, 4.0, hint, studentLayer, teacherTap);
    }

    private static DistillationGraph build(DistillSettings d, TeacherOutputs teacher) {
        return StudentGraphs.build(STUDENT, MNIST, CLASSES, TRAIN, StudentGraphs.methods(d, CLASSES), teacher);
    }

    private static final DistillSettings ALL = weights(0.5, 0.5, 1.0, "stage3", "stage3");

    @Test
    void methodsComeInHeadOrder() {
        assertEquals(List.of("ce"), names(weights(1, 0, 0, "", "")));
        assertEquals(List.of("ce", "kd"), names(weights(0.5, 0.5, 0, "", "")));
        assertEquals(List.of("ce", "kd", "hint"), names(ALL));
        // ce is attached even at weight 0, to keep the prediction head
        assertEquals(List.of("ce", "kd"), names(weights(0, 1, 0, "", "")));
    }

    private static List<String> names(DistillSettings d) {
        return StudentGraphs.methods(d, CLASSES).stream().map(DistillationMethod::name).toList();
    }

    @Test
    void headsFollowTheMethods() {
        assertEquals(List.of(ModelZoo.OUTPUT), build(weights(1, 0, 0, "", ""), TeacherOutputs.none()).outputs());
        assertEquals(List.of(ModelZoo.OUTPUT, HintonKd.HEAD), build(weights(0.5, 0.5, 0, "", ""), teacher(10)).outputs());
    }

    @Test
    void fullGraphHasThreeHeadsWithLabelSourcesOfTheRightWidths() {
        DistillationGraph graph = build(ALL, teacher(10));
        assertEquals(List.of(ModelZoo.OUTPUT, HintonKd.HEAD, FitNetsHint.HEAD), graph.outputs());
        assertEquals(List.of(
                        new LabelSource.ClassLabels(10),
                        new LabelSource.TeacherColumn("logits", TensorEncoding.FLOAT32, 10),
                        new LabelSource.TeacherColumn("tap_stage3", TensorEncoding.FLOAT16, 128 * 7 * 7)),
                graph.labels());
        assertEquals(List.of(10, 10, 6272), graph.labels().stream().map(LabelSource::width).toList());

        ComputationGraphConfiguration conf = graph.build();
        assertEquals(graph.outputs(), conf.getNetworkOutputs());
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        INDArray[] out = g.output(Nd4j.rand(2, 1, 28, 28));
        assertEquals(3, out.length);
        for (int h = 0; h < 3; h++) {
            assertArrayEquals(new long[]{2, graph.labels().get(h).width()}, out[h].shape(), graph.outputs().get(h));
        }
    }

    @Test
    void logitsWidthMismatchIsRejected() {
        String message = assertThrows(BadInputException.class, () -> build(ALL, teacher(12))).getMessage();
        assertTrue(message.contains("logits") && message.contains("[12]") && message.contains("10 classes"), message);
    }

    @Test
    void hintOnMissingStudentLayerIsRejected() {
        String message = assertThrows(BadInputException.class,
                () -> build(weights(0.5, 0.5, 1, "stage9", "stage3"), teacher(10))).getMessage();
        assertTrue(message.contains("'stage9'") && message.contains("stage3"), message);
    }

    @Test
    void hintOnMissingTeacherTapIsRejected() {
        String message = assertThrows(BadInputException.class,
                () -> build(weights(0.5, 0.5, 1, "stage3", "stage2"), teacher(10))).getMessage();
        assertTrue(message.contains("'stage2'") && message.contains("[stage3]"), message);
    }

    @Test
    void hintSpatialMismatchIsRejected() {
        String message = assertThrows(BadInputException.class,
                () -> build(weights(0.5, 0.5, 1, "stage1", "stage3"), teacher(10))).getMessage();
        assertTrue(message.contains("'stage1'") && message.contains("28x28"), message);
        assertTrue(message.contains("'stage3'") && message.contains("7x7"), message);
    }

    @Test
    void deployableCopiesTheTrainedParametersAndDropsTheConnector() {
        ComputationGraph trained = new ComputationGraph(build(ALL, teacher(10)).build());
        trained.init();
        // Stand-in for training: move every parameter (BN variances start at 1, so they stay positive).
        Nd4j.getRandom().setSeed(3);
        trained.params().addi(Nd4j.rand(trained.params().dataType(), trained.params().shape()).subi(0.5).muli(0.2));

        ComputationGraph plain = StudentGraphs.deployable(trained);
        assertEquals(List.of(ModelZoo.OUTPUT), plain.getConfiguration().getNetworkOutputs());
        INDArray x = Nd4j.rand(4, 1, 28, 28);
        INDArray expected = trained.output(x)[0];
        assertTrue(expected.equalsWithEps(plain.outputSingle(x), 1e-6), "deployed output = trained output head");

        ComputationGraph fresh = new ComputationGraph(ModelZoo.classifier(STUDENT, MNIST, CLASSES, TRAIN));
        fresh.init();
        assertFalse(expected.equalsWithEps(fresh.outputSingle(x), 1e-6), "control: an uncopied classifier differs");

        // The 1x1 connector 64 -> 128 channels with bias: 64*128 + 128 parameters, the only difference.
        assertEquals(64 * 128 + 128, trained.getLayer(FitNetsHint.CONNECTOR).numParams());
        assertEquals(trained.numParams() - (64 * 128 + 128), plain.numParams());
    }

    /**
     * A hint head at a negligible weight must not change how the rest of the student trains: the same
     * backbone, fitted on the same batches, ends with the same predictions.
     */
    @Test
    void negligibleHintLeavesTrainingOfTheOtherHeadsUnchanged() {
        ComputationGraph withHint = new ComputationGraph(build(weights(0.5, 0.5, 1e-12, "stage3", "stage3"), teacher(10)).build());
        withHint.init();
        ComputationGraph without = new ComputationGraph(build(weights(0.5, 0.5, 0, "", ""), teacher(10)).build());
        without.init();
        without.paramTable().forEach((name, value) -> withHint.setParam(name, value.dup()));

        Nd4j.getRandom().setSeed(5);
        INDArray x = Nd4j.rand(16, 1, 28, 28);
        INDArray labels = Nd4j.eye(10).getRows(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5);
        INDArray teacherLogits = Nd4j.randn(16, 10).muli(3);
        INDArray tap = Nd4j.rand(16, 128 * 7 * 7).muli(2);
        for (int step = 0; step < 5; step++) {
            withHint.fit(new org.nd4j.linalg.dataset.MultiDataSet(new INDArray[]{x}, new INDArray[]{labels, teacherLogits, tap}));
            without.fit(new org.nd4j.linalg.dataset.MultiDataSet(new INDArray[]{x}, new INDArray[]{labels, teacherLogits}));
        }
        INDArray expected = without.output(x)[0];
        INDArray actual = withHint.output(x)[0];
        assertTrue(expected.equalsWithEps(actual, 1e-5), "predictions diverged: " + expected.getRow(0) + " vs " + actual.getRow(0));
    }
}
