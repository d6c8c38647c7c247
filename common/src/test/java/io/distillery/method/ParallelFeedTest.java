package io.distillery.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.config.ConfigLoader;
import io.distillery.config.MethodSettings;
import io.distillery.config.ModelSpec;
import io.distillery.config.PipelineConfig;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.loss.NormalizedL1Loss;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.TensorEncoding;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Parallel FEED over a two-member ensemble's teacher outputs (members "ta" and "tb", stage2 taps of
 * 8 and 12 channels at 7x7): one translator and head per member reading that member's columns, the
 * one-line errors, the config wiring, and that the heads train (in-JVM, no Spark).
 */
class ParallelFeedTest {
    private static final TrainSettings TRAIN = new TrainSettings(1, 32, 0.01, "constant", 0, 0, 1, 11);
    /** stage1 14x14x4, stage2 7x7x8 (pooled), stage3 4x4x16. */
    private static final ModelSpec STUDENT = new ModelSpec("cnn", List.of(4, 8, 16), List.of(1, 1, 1));
    private static final ImageShape IMAGE = new ImageShape(14, 14, 1);
    private static final int CLASSES = 4, SIZE = 7;
    private static final int[] TEACHER_CHANNELS = {8, 12};
    private static final String FLOAT32 = TensorEncoding.FLOAT32.manifestName();

    private static ColumnSpec logits(String prefix) {
        return new ColumnSpec(prefix + TeacherOutputsTable.LOGITS, "binary", FLOAT32, List.of(CLASSES), "K", null, "logits");
    }

    private static ColumnSpec tap(String prefix, int channels) {
        return new ColumnSpec(prefix + TeacherOutputsTable.tapColumn("stage2"), "binary", FLOAT32, List.of(channels, SIZE, SIZE), "CHW",
                "stage2", "tap");
    }

    /** An ensemble table as precompute writes it: the ensemble's logits, then each member's logits and tap under its prefix. */
    static TeacherOutputs ensemble() {
        List<ColumnSpec> columns = List.of(logits(""), logits("ta__"), tap("ta__", TEACHER_CHANNELS[0]), logits("tb__"),
                tap("tb__", TEACHER_CHANNELS[1]));
        Map<String, Object> properties = Map.of(TeacherOutputs.MEMBERS, List.of(
                Map.of("name", "ta", "prefix", "ta__"), Map.of("name", "tb", "prefix", "tb__")));
        return new TeacherOutputs("ens", new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 64, "h", columns, properties, null));
    }

    private static DistillationGraph build(TeacherOutputs teacher, DistillationMethod... methods) {
        List<DistillationMethod> all = new ArrayList<>(List.of(new LabelCrossEntropy(1, CLASSES)));
        all.addAll(List.of(methods));
        return StudentGraphs.build(STUDENT, IMAGE, CLASSES, TRAIN, all, teacher);
    }

    private static LayerVertex vertex(ComputationGraphConfiguration conf, String name) {
        return (LayerVertex) conf.getVertices().get(name);
    }

    @Test
    void everyMemberGetsItsOwnTranslatorAndHeadOnItsOwnTap() {
        DistillationGraph g = build(ensemble(), new ParallelFeed(0.5, "stage2", "stage2"));
        assertEquals(List.of("output", "feed_ta", "feed_tb"), g.outputs());
        assertEquals(List.of("ta__tap_stage2", "tb__tap_stage2"),
                g.labels().subList(1, 3).stream().map(l -> ((LabelSource.TeacherColumn) l).column()).toList());
        assertEquals(List.of(8 * 49, 12 * 49), g.labels().subList(1, 3).stream().map(LabelSource::width).toList());

        ComputationGraphConfiguration conf = g.build();
        for (int k = 0; k < 2; k++) {
            String head = k == 0 ? "feed_ta" : "feed_tb";
            int teacherChannels = TEACHER_CHANNELS[k];
            // conv3x3(C_s -> C_s) - conv3x3(C_s -> C_t) - conv3x3(C_t -> C_t), each LeakyReLU(0.1), on stage2.
            List<String> inputs = List.of("stage2", head + "_ntl1", head + "_ntl2", head + "_ntl3");
            int[] widths = {8, teacherChannels, teacherChannels};
            for (int i = 0; i < 3; i++) {
                String name = head + "_ntl" + (i + 1);
                ConvolutionLayer conv = (ConvolutionLayer) vertex(conf, name).getLayerConf().getLayer();
                assertEquals(List.of(inputs.get(i)), conf.getVertexInputs().get(name));
                assertEquals(widths[i], conv.getNOut(), name);
                assertEquals(3, conv.getKernelSize()[0]);
                assertEquals(1, conv.getStride()[0]);
                ActivationLReLU lrelu = assertInstanceOf(ActivationLReLU.class, conv.getActivationFn());
                assertEquals(0.1, lrelu.getAlpha());
            }
            LayerVertex loss = vertex(conf, head);
            assertEquals(List.of(head + "_ntl3"), conf.getVertexInputs().get(head));
            assertInstanceOf(CnnToFeedForwardPreProcessor.class, loss.getPreProcessor());
            assertEquals(new NormalizedL1Loss(0.5), ((LossLayer) loss.getLayerConf().getLayer()).getLossFn());
        }
        INDArray[] out = g.newGraph().output(Nd4j.rand(2, 1, 14, 14));
        assertEquals(List.of(2L, 8L * 49), List.of(out[1].size(0), out[1].size(1)));
        assertEquals(List.of(2L, 12L * 49), List.of(out[2].size(0), out[2].size(1)));
    }

    @Test
    void aSingleTeacherTableIsItsOwnOnlyMember() {
        TeacherOutputs single = new TeacherOutputs("ta", new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 64, "h",
                List.of(logits(""), tap("", 8)), Map.of(), null));
        DistillationGraph g = build(single, new ParallelFeed(1, "stage2", "stage2"));
        assertEquals(List.of("output", "feed"), g.outputs());
        assertEquals("tap_stage2", ((LabelSource.TeacherColumn) g.labels().get(1)).column());
        assertTrue(g.hasVertex("feed_ntl3"));
    }

    @Test
    void aMissingTapOrASpatialMismatchIsAOneLineError() {
        String message = assertThrows(BadInputException.class, () -> build(ensemble(), new ParallelFeed(1, "stage2", "stage3"))).getMessage();
        assertFalse(message.contains("\n"), message);
        assertTrue(message.contains("stage3") && message.contains("precompute.taps"), message);
        message = assertThrows(BadInputException.class, () -> build(ensemble(), new ParallelFeed(1, "stage3", "stage2"))).getMessage();
        assertFalse(message.contains("\n"), message);
        assertTrue(message.contains("'stage3'") && message.contains("ta__tap_stage2") && message.contains("7x7"), message);
        message = assertThrows(BadInputException.class, () -> build(ensemble(), new ParallelFeed(1, "nope", "stage2"))).getMessage();
        assertTrue(message.contains("'nope'"), message);
    }

    @Test
    void deployedStudentDropsTheTranslators() {
        DistillationGraph g = build(ensemble(), new ParallelFeed(1, "stage2", "stage2"));
        ComputationGraph trained = g.newGraph();
        ComputationGraph plain = StudentGraphs.deployable(trained);
        assertTrue(plain.getConfiguration().getVertices().keySet().stream().noneMatch(v -> v.startsWith("feed")),
                plain.getConfiguration().getVertices().keySet().toString());
        long translators = 0;
        for (String head : List.of("feed_ta", "feed_tb")) {
            for (int i = 1; i <= 3; i++) {
                translators += trained.getLayer(head + "_ntl" + i).numParams();
            }
        }
        assertEquals(trained.numParams() - translators, plain.numParams());
    }

    @Test
    void configTurnsItOnAfterInDistillAndChecksIt() {
        PipelineConfig c = ConfigLoader.load(null, null, List.of("distill.feed.weight=0.25", "distill.feed.student-layer=stage2",
                "distill.feed.teacher-tap=stage2"));
        assertEquals(new MethodSettings.Feed(MethodSettings.RECONSTRUCTED_V0, 0.25, "stage2", "stage2"), c.distill().feed());
        List<DistillationMethod> methods = StudentGraphs.methods(c.distill(), CLASSES);
        ParallelFeed feed = assertInstanceOf(ParallelFeed.class, methods.get(methods.size() - 1));
        assertEquals(new ParallelFeed(0.25, "stage2", "stage2"), feed);
        assertTrue(feed.toString().contains("reconstructed-v0"), feed.toString());

        assertEquals(MethodSettings.Feed.off(), ConfigLoader.load(null, null, List.of()).distill().feed());
        assertTrue(StudentGraphs.methods(ConfigLoader.load(null, null, List.of()).distill(), CLASSES).stream()
                .noneMatch(m -> m instanceof ParallelFeed));
        String message = assertThrows(BadInputException.class, () -> ConfigLoader.load(null, null, List.of("distill.feed.weight=1")))
                .getMessage();
        assertTrue(message.contains("distill.feed.student-layer"), message);
        message = assertThrows(BadInputException.class, () -> ConfigLoader.load(null, null, List.of("distill.feed.weight=-1"))).getMessage();
        assertTrue(message.contains("distill.feed.weight"), message);
        // FEED alone is something to train.
        ConfigLoader.load(null, null, List.of("distill.loss.ce-weight=0", "distill.loss.kd-weight=0", "distill.feed.weight=1",
                "distill.feed.student-layer=stage2", "distill.feed.teacher-tap=stage2"));
    }

    // ---- training on synthetic data ----

    /** Fixed random per-channel gains and offsets: teacher k's channel c is relu(gain·m + offset), m the image pooled to 7x7. */
    private static INDArray[] teacherMaps(INDArray images) {
        INDArray pooled = images.get(NDArrayIndex.all(), NDArrayIndex.point(0)).reshape(images.size(0), SIZE, 2, SIZE, 2).mean(2, 4);
        INDArray[] maps = new INDArray[TEACHER_CHANNELS.length];
        org.nd4j.linalg.api.rng.Random rng = Nd4j.getRandomFactory().getNewRandomInstance(123);
        for (int k = 0; k < maps.length; k++) {
            int channels = TEACHER_CHANNELS[k];
            INDArray map = Nd4j.create(images.dataType(), images.size(0), channels, SIZE, SIZE);
            for (int c = 0; c < channels; c++) {
                double gain = rng.nextGaussian(), offset = 0.5 * rng.nextGaussian();
                map.get(NDArrayIndex.all(), NDArrayIndex.point(c)).assign(
                        org.nd4j.linalg.ops.transforms.Transforms.relu(pooled.mul(gain).addi(offset), false));
            }
            maps[k] = map.reshape(images.size(0), (long) channels * SIZE * SIZE);
        }
        return maps;
    }

    /** Class k: a bright 7x7 quadrant k on Gaussian noise. */
    private static MultiDataSet task(int n, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray images = Nd4j.randn(n, 1, 14, 14).muli(0.5);
        INDArray labels = Nd4j.zeros(n, CLASSES);
        for (int i = 0; i < n; i++) {
            int k = i % CLASSES;
            labels.putScalar(i, k, 1);
            images.get(NDArrayIndex.point(i), NDArrayIndex.point(0), NDArrayIndex.interval(7 * (k / 2), 7 * (k / 2) + 7),
                    NDArrayIndex.interval(7 * (k % 2), 7 * (k % 2) + 7)).addi(1.5);
        }
        INDArray[] maps = teacherMaps(images);
        return new MultiDataSet(new INDArray[]{images}, new INDArray[]{labels, maps[0], maps[1]});
    }

    /** Each FEED head's mean per-example normalised L1 sum (weight 1) on {@code data}. */
    private static double[] feedLosses(ComputationGraph net, MultiDataSet data) {
        Map<String, INDArray> acts = net.feedForward(data.getFeatures(), false, false);
        double[] losses = new double[2];
        for (int k = 0; k < 2; k++) {
            INDArray translated = acts.get((k == 0 ? "feed_ta" : "feed_tb") + "_ntl3");
            INDArray flat = translated.dup('c').reshape(translated.size(0), -1);
            losses[k] = new NormalizedL1Loss(1).computeScore(data.getLabels(k + 1), flat, Activation.IDENTITY.getActivationFunction(), null, true);
        }
        return losses;
    }

    /** With CE off, FEED's gradient reaches the student's own layers below the tap (not only the translators) and nothing above it. */
    @Test
    void feedAloneTrainsTheStudentBelowTheTapAndLeavesTheClassifier() {
        List<DistillationMethod> methods = List.of(new LabelCrossEntropy(0, CLASSES), new ParallelFeed(0.5, "stage2", "stage2"));
        ComputationGraph net = StudentGraphs.build(STUDENT, IMAGE, CLASSES, TRAIN, methods, ensemble()).newGraph();
        MultiDataSet data = task(16, 3);
        INDArray conv2 = net.getLayer("conv2_conv").params().dup(), conv3 = net.getLayer("conv3_conv").params().dup();
        INDArray logits = net.getLayer("logits").params().dup();
        net.fit(data);
        assertFalse(conv2.equalsWithEps(net.getLayer("conv2_conv").params(), 1e-6), "stage2's convolution learns from FEED");
        assertTrue(conv3.equalsWithEps(net.getLayer("conv3_conv").params(), 0), "stage3 is above the tap");
        assertTrue(logits.equalsWithEps(net.getLayer("logits").params(), 0), "the classifier has no FEED gradient");
    }

    @Test
    void ceAndFeedTrainTheStudentAndBothFeedLossesFall() {
        DistillationGraph g = build(ensemble(), new ParallelFeed(0.5, "stage2", "stage2"));
        ComputationGraph net = g.newGraph();
        MultiDataSet train = task(64, 1), test = task(64, 2);
        double[] before = feedLosses(net, train);
        for (int step = 0; step < 50; step++) {
            net.fit(train);
        }
        double[] after = feedLosses(net, train);
        for (int k = 0; k < 2; k++) {
            assertTrue(after[k] < 0.4 * before[k], g.outputs().get(k + 1) + ": " + before[k] + " -> " + after[k]);
        }
        INDArray predicted = net.output(test.getFeatures(0))[0].argMax(1);
        double accuracy = predicted.eq(test.getLabels(0).argMax(1)).castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).meanNumber().doubleValue();
        assertTrue(accuracy >= 0.75, "held-out accuracy " + accuracy + " (chance 0.25)");
    }
}
