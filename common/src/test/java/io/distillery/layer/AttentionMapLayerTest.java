package io.distillery.layer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.loss.DoublePrecision;
import io.distillery.loss.HintLoss;
import io.distillery.tensor.AttentionMaps;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.Map;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.memory.NetworkMemoryReport;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.lossfunctions.impl.LossMSE;

/**
 * {@link AttentionMapLayer} in a student graph, in double precision: DL4J's numerical gradient
 * check (with a negative control that must fail), the forward pass against {@link AttentionMaps},
 * a direct finite-difference check of the input gradient (including the norm floor), workspaces,
 * and the configuration's JSON and Java serialisation.
 */
@ExtendWith(DoublePrecision.class)
class AttentionMapLayerTest {
    private static final int BATCH = 3, CHANNELS = 2, SIZE = 5, CONV = 3;
    /** Spatial size after the 2x2 convolution (no padding), and the map's width. */
    private static final int MAP = SIZE - 1, HW = MAP * MAP;
    private static final double BETA = 50;

    /** img → 2x2 conv → attention map → loss against a teacher map. */
    private static ComputationGraphConfiguration graph(AttentionMapLayer at, ILossFunction loss, WorkspaceMode mode,
            boolean train) {
        return new NeuralNetConfiguration.Builder()
                .seed(42).dataType(DataType.DOUBLE).updater(train ? new Sgd(0.1) : new NoOp())
                .weightInit(WeightInit.XAVIER)
                .trainingWorkspaceMode(mode).inferenceWorkspaceMode(mode)
                .graphBuilder()
                .addInputs("img")
                .setInputTypes(InputType.convolutional(SIZE, SIZE, CHANNELS))
                .addLayer("conv", new ConvolutionLayer.Builder(2, 2).nOut(CONV).activation(Activation.TANH).build(), "img")
                .addLayer("at", at, "conv")
                .addLayer("loss", new LossLayer.Builder(loss).activation(Activation.IDENTITY).build(), "at")
                .setOutputs("loss")
                .build();
    }

    private static ComputationGraph init(ComputationGraphConfiguration conf) {
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    private static INDArray images() {
        Nd4j.getRandom().setSeed(7);
        return Nd4j.randn(DataType.DOUBLE, BATCH, CHANNELS, SIZE, SIZE);
    }

    private static INDArray teacherMaps() {
        Nd4j.getRandom().setSeed(8);
        return AttentionMaps.normalized(Nd4j.randn(DataType.DOUBLE, BATCH, 4, MAP, MAP));
    }

    private static boolean gradientCheck(AttentionMapLayer at, ILossFunction loss) {
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
                .net(init(graph(at, loss, WorkspaceMode.ENABLED, false)))
                .inputs(new INDArray[] {images()})
                .labels(new INDArray[] {teacherMaps()})
                .epsilon(1e-6)
                .maxRelError(1e-6)
                .minAbsoluteError(1e-9)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    }

    @Test
    void graphPassesDl4jGradientCheckWithHintLoss() {
        assertTrue(gradientCheck(new AttentionMapLayer(), new HintLoss(BETA)));
    }

    @Test
    void graphPassesDl4jGradientCheckWithMse() {
        assertTrue(gradientCheck(new AttentionMapLayer(), new LossMSE()));
    }

    @Test
    void gradientCheckCatchesABackpropOffByTenPercent() {
        assertFalse(gradientCheck(WrongBackprop.scaled(1.1), new HintLoss(BETA)));
    }

    @Test
    void gradientCheckCatchesABackpropIgnoringTheNormalisation() {
        // A classic slip: treating ‖a‖ as a constant, dL/da = ε/‖a‖ (drops the −q qᵀ projection).
        assertFalse(gradientCheck(WrongBackprop.withoutProjection(), new HintLoss(BETA)));
    }

    @Test
    void forwardIsTheNormalisedAttentionMapOfTheConvOutput() {
        ComputationGraph net = init(graph(new AttentionMapLayer(), new HintLoss(BETA), WorkspaceMode.ENABLED, false));
        for (boolean training : new boolean[] {false, true}) {
            Map<String, INDArray> acts = net.feedForward(new INDArray[] {images()}, training, false);
            INDArray map = acts.get("at");
            assertArrayEquals(new long[] {BATCH, HW}, map.shape());
            // INDArray.equals allows 1e-5; the layer must give exactly AttentionMaps' numbers
            assertTrue(AttentionMaps.normalized(acts.get("conv")).equalsWithEps(map, 0));
            for (int i = 0; i < BATCH; i++) {
                assertEquals(1.0, map.getRow(i).norm2Number().doubleValue(), 1e-12, "unit norm per example");
            }
        }
    }

    /** Directly: backprop(ε) against central differences of Σ ε ⊙ forward(A), per input entry. */
    @Test
    void inputGradientMatchesFiniteDifferencesIncludingAnAllZeroExample() {
        Layer layer = init(graph(new AttentionMapLayer(), new HintLoss(BETA), WorkspaceMode.NONE, false)).getLayer("at");
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        Nd4j.getRandom().setSeed(11);
        INDArray input = Nd4j.randn(DataType.DOUBLE, BATCH, CONV, 3, 2);
        input.slice(2).assign(0); // the norm floor's branch: an all-zero example
        INDArray eps = Nd4j.randn(DataType.DOUBLE, BATCH, 6);

        layer.setInput(input.dup(), mgr);
        layer.activate(true, mgr);
        Pair<Gradient, INDArray> back = layer.backpropGradient(eps.dup(), mgr);
        assertTrue(back.getFirst().gradientForVariable().isEmpty(), "no parameters");
        INDArray analytic = back.getSecond();
        assertArrayEquals(input.shape(), analytic.shape());
        assertFalse(analytic.isNaN().any() || analytic.isInfinite().any());
        assertEquals(0.0, analytic.slice(2).norm2Number().doubleValue(), 0.0, "zero input, zero gradient");

        double h = 1e-6;
        for (long k = 0; k < input.length(); k++) {
            INDArray plus = input.dup(), minus = input.dup();
            plus.putScalar(k, input.getDouble(k) + h);
            minus.putScalar(k, input.getDouble(k) - h);
            double numeric = (forward(layer, plus, mgr).mul(eps).sumNumber().doubleValue()
                    - forward(layer, minus, mgr).mul(eps).sumNumber().doubleValue()) / (2 * h);
            if (input.getDouble(k) != 0) { // at A = 0 the floored map has a kink: only one side is smooth
                assertEquals(numeric, analytic.getDouble(k), 1e-7 * Math.max(1, Math.abs(numeric)), "entry " + k);
            }
        }
    }

    private static INDArray forward(Layer layer, INDArray input, LayerWorkspaceMgr mgr) {
        layer.setInput(input, mgr);
        return layer.activate(false, mgr);
    }

    /** Training and inference give the same numbers with and without DL4J's workspaces. */
    @Test
    void workspaceModesAgreeOverSeveralFitSteps() {
        INDArray[] results = new INDArray[2];
        WorkspaceMode[] modes = {WorkspaceMode.ENABLED, WorkspaceMode.NONE};
        for (int m = 0; m < modes.length; m++) {
            ComputationGraph net = init(graph(new AttentionMapLayer(), new HintLoss(BETA), modes[m], true));
            MultiDataSet data = new MultiDataSet(new INDArray[] {images()}, new INDArray[] {teacherMaps()});
            double first = net.score(data);
            for (int i = 0; i < 5; i++) {
                net.fit(data);
            }
            assertTrue(net.score(data) < first, modes[m] + ": the loss goes down");
            results[m] = Nd4j.concat(1, net.params().reshape(1, -1), net.outputSingle(images()).reshape(1, -1));
        }
        assertTrue(results[0].equalsWithEps(results[1], 1e-12));
    }

    @Test
    void configurationSurvivesJsonAndJavaSerialization() throws Exception {
        ComputationGraphConfiguration conf = graph(new AttentionMapLayer(), new HintLoss(BETA), WorkspaceMode.ENABLED, false);
        String json = conf.toJson();
        assertTrue(json.contains("io.distillery.layer.AttentionMapLayer"), json);
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(json);
        assertEquals(conf, back);
        assertEquals(json, back.toJson());
        assertInstanceOf(AttentionMapLayer.class, layerOf(back, "at"));
        assertEquals("at", layerOf(back, "at").getLayerName());

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(conf);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            ComputationGraphConfiguration fromBytes = (ComputationGraphConfiguration) in.readObject();
            assertEquals(conf, fromBytes);
            INDArray out = init(fromBytes).outputSingle(images());
            assertArrayEquals(new long[] {BATCH, HW}, out.shape());
        }
    }

    private static org.deeplearning4j.nn.conf.layers.Layer layerOf(ComputationGraphConfiguration conf, String name) {
        return ((LayerVertex) conf.getVertices().get(name)).getLayerConf().getLayer();
    }

    @Test
    void typesPreProcessorsAndMemoryReport() {
        AttentionMapLayer at = new AttentionMapLayer.Builder().name("at1").build();
        assertEquals(InputType.feedForward(12), at.getOutputType(0, InputType.convolutional(3, 4, 7)));
        assertEquals(null, at.getPreProcessorForInputType(InputType.convolutional(3, 4, 7)));
        assertTrue(at.getPreProcessorForInputType(InputType.convolutionalFlat(3, 4, 7)) != null);
        assertEquals(0, at.initializer().numParams(at));
        IllegalStateException nhwc = assertThrows(IllegalStateException.class,
                () -> at.getOutputType(0, InputType.convolutional(3, 4, 7, CNN2DFormat.NHWC)));
        assertTrue(nhwc.getMessage().contains("NCHW"), nhwc.getMessage());
        assertThrows(IllegalStateException.class, () -> at.getOutputType(0, InputType.feedForward(12)));

        ComputationGraphConfiguration conf = graph(new AttentionMapLayer(), new HintLoss(BETA), WorkspaceMode.ENABLED, false);
        InputType in = InputType.convolutional(SIZE, SIZE, CHANNELS);
        assertEquals(InputType.feedForward(HW), conf.getLayerActivationTypes(in).get("at"));
        NetworkMemoryReport report = conf.getMemoryReport(in);
        assertTrue(report.getTotalMemoryBytes(BATCH, org.deeplearning4j.nn.conf.memory.MemoryUseMode.TRAINING,
                org.deeplearning4j.nn.conf.CacheMode.NONE, DataType.DOUBLE) > 0);

        // Flattened image input: DL4J inserts the reshaping preprocessor itself.
        ComputationGraph flat = init(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).graphBuilder()
                .addInputs("img").setInputTypes(InputType.convolutionalFlat(MAP, MAP, CONV))
                .addLayer("at", new AttentionMapLayer(), "img")
                .addLayer("dense", new DenseLayer.Builder().nOut(2).build(), "at")
                .addLayer("loss", new LossLayer.Builder(new LossMSE()).activation(Activation.IDENTITY).build(), "dense")
                .setOutputs("loss").build());
        INDArray nchw = Nd4j.randn(DataType.DOUBLE, BATCH, CONV, MAP, MAP);
        assertTrue(AttentionMaps.normalized(nchw).equalsWithEps(
                flat.feedForward(nchw.reshape('c', BATCH, (long) CONV * HW), false).get("at"), 0));
    }

    @Test
    void valueSemantics() {
        assertEquals(new AttentionMapLayer(), new AttentionMapLayer());
        assertEquals(new AttentionMapLayer().hashCode(), new AttentionMapLayer().hashCode());
        assertNotEquals(new AttentionMapLayer(), WrongBackprop.scaled(1.1));
        assertNotEquals(new AttentionMapLayer.Builder().name("a").build(), new AttentionMapLayer.Builder().name("b").build());
        AttentionMapLayer copy = (AttentionMapLayer) new AttentionMapLayer.Builder().name("a").build().clone();
        assertEquals(new AttentionMapLayer.Builder().name("a").build(), copy);
    }

    /** Feature masks reaching the layer: per example they pass on to the loss, spatial ones are refused. */
    @ParameterizedTest
    @EnumSource(value = WorkspaceMode.class, names = {"ENABLED", "NONE"})
    void perExampleFeatureMasksPassThroughAndSpatialOnesAreRejected(WorkspaceMode mode) {
        ComputationGraph net = init(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .trainingWorkspaceMode(mode).inferenceWorkspaceMode(mode).graphBuilder()
                .addInputs("act").setInputTypes(InputType.convolutional(MAP, MAP, CONV))
                .addLayer("at", new AttentionMapLayer(), "act")
                .addLayer("loss", new LossLayer.Builder(new HintLoss(BETA)).activation(Activation.IDENTITY).build(), "at")
                .setOutputs("loss").build());
        INDArray activations = Nd4j.randn(DataType.DOUBLE, BATCH, CONV, MAP, MAP);
        INDArray mask = Nd4j.create(new double[][] {{1}, {0}, {1}});
        INDArray scores = net.scoreExamples(new MultiDataSet(new INDArray[] {activations},
                new INDArray[] {teacherMaps()}, new INDArray[] {mask}, null), false);
        assertEquals(0.0, scores.getDouble(1), 0.0, "masked example");
        assertTrue(scores.getDouble(0) > 0 && scores.getDouble(2) > 0);

        INDArray spatial = Nd4j.ones(DataType.DOUBLE, BATCH, 1, MAP, MAP);
        assertThrows(UnsupportedOperationException.class, () -> net.scoreExamples(new MultiDataSet(
                new INDArray[] {activations}, new INDArray[] {teacherMaps()}, new INDArray[] {spatial}, null), false));
    }
}
