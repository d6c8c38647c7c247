package io.distillery.method;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.distillery.config.MethodSettings;
import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.layer.GradientReversal;
import io.distillery.loss.DoublePrecision;
import io.distillery.model.ModelZoo;
import io.distillery.train.NoiseBatches;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DepthwiseConvolution2D;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.iter.NdIndexIterator;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link CdfkdMfs} on tiny graphs in double precision: DL4J's frozen batch norm gives a wrong input
 * gradient (why teacher BNs become affine maps), copied teachers reproduce their own logits and pass
 * a correct gradient to the generator, teachers stay still under fit(), and the deployable student
 * averages its headers.
 */
@ExtendWith(DoublePrecision.class)
class CdfkdMfsTest {
    static final ImageShape IMAGE = new ImageShape(8, 8, 1);
    static final int CLASSES = 4, NOISE = 3, BATCH = 4;
    /** No l2: DL4J's score includes the l2 penalty, its gradient does not (the updater adds it). */
    static final TrainSettings TRAIN = new TrainSettings(1, BATCH, 0.01, "constant", 0, 1, 1, 7);
    static final ModelSpec STUDENT = new ModelSpec("cnn", List.of(2, 3), List.of(1, 1));

    static MethodSettings.CdfkdMfs settings(int noiseDim) {
        MethodSettings.CdfkdMfs d = MethodSettings.CdfkdMfs.off();
        return new MethodSettings.CdfkdMfs(true, d.variant(), noiseDim, 0, d.ensembleWeight(), d.headerWeight(), d.generatorWeight(),
                d.bnWeight(), d.firstBnRatio(), d.reversalScale(), d.generatorLearningRate(), d.batchesPerEpoch(), 0);
    }

    /** A zoo classifier with random weights and random running statistics (so inference-mode BN matters). */
    static ComputationGraph teacher(ModelSpec spec, long seed) {
        ComputationGraph t = new ComputationGraph(ModelZoo.classifier(spec, IMAGE, CLASSES,
                new TrainSettings(1, BATCH, 0.01, "constant", 0, 1, 1, seed)));
        t.init();
        Nd4j.getRandom().setSeed(seed);
        for (org.deeplearning4j.nn.api.Layer layer : t.getLayers()) {
            if (layer.conf().getLayer() instanceof BatchNormalization) {
                Map<String, INDArray> p = layer.paramTable();
                long c = p.get(BatchNormalizationParamInitializer.GLOBAL_MEAN).length();
                layer.setParam(BatchNormalizationParamInitializer.GLOBAL_MEAN, Nd4j.randn(DataType.FLOAT, 1, c).muli(0.3));
                if (p.containsKey(BatchNormalizationParamInitializer.GLOBAL_VAR)) {
                    layer.setParam(BatchNormalizationParamInitializer.GLOBAL_VAR, Nd4j.rand(DataType.FLOAT, 1, c).addi(0.5));
                } else {
                    layer.setParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD, Nd4j.rand(DataType.FLOAT, 1, c).subi(0.5).muli(0.4));
                }
                layer.setParam(BatchNormalizationParamInitializer.GAMMA, Nd4j.rand(DataType.FLOAT, 1, c).addi(0.5));
                layer.setParam(BatchNormalizationParamInitializer.BETA, Nd4j.randn(DataType.FLOAT, 1, c).muli(0.2));
            }
        }
        return t;
    }

    static List<ComputationGraph> teachers() {
        return List.of(teacher(new ModelSpec("cnn", List.of(3, 4), List.of(1, 1)), 11),
                teacher(new ModelSpec("resnet", List.of(2, 3), List.of(1, 1)), 12));
    }

    static CdfkdMfs method(List<ComputationGraph> teachers) {
        return new CdfkdMfs(settings(NOISE), STUDENT, IMAGE, CLASSES, TRAIN, teachers, new int[] {3, 2});
    }

    static MultiDataSet noise(CdfkdMfs m, int index) {
        return NoiseBatches.batch(5, 0, index, BATCH, m.noiseLayout());
    }

    static MultiDataSet toDouble(MultiDataSet d) {
        INDArray[] labels = new INDArray[d.getLabels().length];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = d.getLabels(i).castTo(DataType.DOUBLE);
        }
        return new org.nd4j.linalg.dataset.MultiDataSet(new INDArray[] {d.getFeatures(0).castTo(DataType.DOUBLE)}, labels);
    }

    // ------------------------------------------------------------------ DL4J's frozen batch norm

    /** x [B, 2, 3, 3] → trainable per-channel affine "pre" → layer → flatten → MSE against fixed targets. */
    private static ComputationGraph oneLayer(org.deeplearning4j.nn.conf.layers.Layer layer, WorkspaceMode workspaces) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.DOUBLE).updater(new NoOp())
                .trainingWorkspaceMode(workspaces).inferenceWorkspaceMode(workspaces)
                .graphBuilder().addInputs("x").setInputTypes(InputType.convolutional(3, 3, 2))
                .addLayer("pre", new DepthwiseConvolution2D.Builder(1, 1).nOut(2).depthMultiplier(1)
                        .activation(org.nd4j.linalg.activations.Activation.IDENTITY).build(), "x")
                .addLayer("layer", layer, "pre")
                .addLayer("loss", new LossLayer.Builder(LossFunctions.LossFunction.MSE).build(),
                        new org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor(3, 3, 2), "layer")
                .setOutputs("loss").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        g.getLayer("pre").setParam("W", Nd4j.createFromArray(1.4, 0.7).reshape(1, 1, 2, 1));
        g.getLayer("pre").setParam("b", Nd4j.createFromArray(0.3, -0.2).reshape(1, 2));
        return g;
    }

    /** Largest relative error of the analytic gradient of "pre" (what reaches the layer's input) against central differences. */
    private static double inputGradientError(ComputationGraph g, INDArray x, INDArray y) {
        MultiDataSet data = new org.nd4j.linalg.dataset.MultiDataSet(x, y);
        Map<String, INDArray> analytic = analyticGradient(g, data);
        Map<String, INDArray> numeric = numericGradient(g, data, List.of("pre_W", "pre_b"));
        double worst = 0;
        for (String name : numeric.keySet()) {
            worst = Math.max(worst, io.distillery.loss.AdversarialGraphs.maxRelativeError(analytic.get(name), numeric.get(name), 1e-8));
        }
        return worst;
    }

    /** The graph's gradient per parameter name, divided by the minibatch as DL4J's updater does. */
    static Map<String, INDArray> analyticGradient(ComputationGraph graph, MultiDataSet data) {
        graph.setInputs(data.getFeatures());
        graph.setLabels(data.getLabels());
        graph.computeGradientAndScore();
        long batch = data.getFeatures(0).size(0);
        Map<String, INDArray> out = new LinkedHashMap<>();
        // Only parameters: a BN with locked gamma and beta (the generator's last layer) reports gradients for
        // them that are no parameters and live in a closed workspace.
        graph.gradient().gradientForVariable().forEach((name, g) -> {
            if (graph.paramTable().containsKey(name)) {
                out.put(name, g.dup().divi(batch));
            }
        });
        return out;
    }

    /** Central differences of the training-mode score in the named parameters. */
    static Map<String, INDArray> numericGradient(ComputationGraph graph, MultiDataSet data, List<String> names) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (String name : names) {
            INDArray p = graph.paramTable().get(name);
            INDArray numeric = Nd4j.zeros(DataType.DOUBLE, p.shape());
            for (NdIndexIterator it = new NdIndexIterator(p.shape()); it.hasNext(); ) {
                long[] at = it.next();
                double original = p.getDouble(at);
                p.putScalar(at, original + 1e-6);
                double plus = graph.score(data, true);
                p.putScalar(at, original - 1e-6);
                double minus = graph.score(data, true);
                p.putScalar(at, original);
                numeric.putScalar(at, (plus - minus) / 2e-6);
            }
            out.put(name, numeric);
        }
        return out;
    }

    @Test
    void frozenBatchNormBackpropagatesTheTrainingModeFormulaSoTeachersUseAnAffineMap() {
        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 5, 2, 3, 3).muli(2).addi(1);
        INDArray y = Nd4j.randn(DataType.DOUBLE, 5, 18);
        double[] gamma = {1.3, 0.6}, beta = {0.2, -0.4}, mean = {0.5, -1.0}, var = {2.0, 0.3};
        java.util.function.Function<WorkspaceMode, ComputationGraph> frozenBn = workspaces -> {
            ComputationGraph g = oneLayer(new FrozenLayerWithBackprop(new BatchNormalization.Builder().nOut(2).useLogStd(false).build()),
                    workspaces);
            org.deeplearning4j.nn.api.Layer bnLayer = g.getLayer("layer");
            bnLayer.setParam("gamma", Nd4j.createFromArray(gamma).reshape(1, 2));
            bnLayer.setParam("beta", Nd4j.createFromArray(beta).reshape(1, 2));
            bnLayer.setParam("mean", Nd4j.createFromArray(mean).reshape(1, 2));
            bnLayer.setParam("var", Nd4j.createFromArray(var).reshape(1, 2));
            return g;
        };
        ComputationGraph bn = frozenBn.apply(WorkspaceMode.ENABLED);

        ComputationGraph affine = oneLayer(new FrozenLayerWithBackprop(new DepthwiseConvolution2D.Builder(1, 1).nIn(2).nOut(2)
                .depthMultiplier(1).activation(org.nd4j.linalg.activations.Activation.IDENTITY).build()), WorkspaceMode.ENABLED);
        double eps = new BatchNormalization.Builder().build().getEps();
        double[] w = new double[2], b = new double[2];
        for (int c = 0; c < 2; c++) {
            w[c] = gamma[c] / Math.sqrt(var[c] + eps);
            b[c] = beta[c] - mean[c] * w[c];
        }
        affine.getLayer("layer").setParam("W", Nd4j.createFromArray(w).reshape(1, 1, 2, 1));
        affine.getLayer("layer").setParam("b", Nd4j.createFromArray(b).reshape(1, 2));

        for (boolean training : new boolean[] {false, true}) {
            INDArray viaBn = bn.feedForward(new INDArray[] {x}, training).get("layer");
            INDArray viaAffine = affine.feedForward(new INDArray[] {x}, training).get("layer");
            assertTrue(viaBn.equalsWithEps(viaAffine, 1e-10), "forward: frozen BN runs in inference mode (training=" + training + ")");
        }
        double affineError = inputGradientError(affine, x.dup(), y);
        assertTrue(affineError < 1e-6, "affine map: input gradient error " + affineError);
        // With workspaces (DL4J's default) the backward pass even fails: it reads batch statistics that the
        // inference-mode forward never kept.
        assertThrows(org.nd4j.linalg.exception.ND4JIllegalStateException.class, () -> inputGradientError(bn, x.dup(), y));
        double bnError = inputGradientError(frozenBn.apply(WorkspaceMode.NONE), x.dup(), y);
        assertTrue(bnError > 1e-2, "DL4J M2.1's FrozenLayerWithBackprop(BatchNormalization) input gradient was expected to be wrong"
                + " (training-mode formula); error " + bnError + ". If DL4J fixed this, the affine replacement is no longer needed.");
    }

    // ------------------------------------------------------------------ the training graph

    private static ComputationGraph doubleTrainingGraph(CdfkdMfs m) {
        return m.trainingGraph().convertDataType(DataType.DOUBLE);
    }

    @Test
    void copiedTeachersGiveTheTeachersOwnLogitsOnTheGeneratedImages() {
        List<ComputationGraph> teachers = teachers();
        CdfkdMfs m = method(teachers);
        ComputationGraph g = doubleTrainingGraph(m);
        MultiDataSet data = toDouble(noise(m, 0));
        for (boolean training : new boolean[] {false, true}) {
            Map<String, INDArray> acts = g.feedForward(data.getFeatures(), training, false);
            INDArray images = acts.get(CdfkdMfs.IMAGE);
            assertArrayEquals(new long[] {BATCH, 1, 8, 8}, images.shape());
            for (int k = 0; k < teachers.size(); k++) {
                INDArray own = teachers.get(k).convertDataType(DataType.DOUBLE).feedForward(new INDArray[] {images}, false, false)
                        .get(ModelZoo.LOGITS);
                INDArray copied = acts.get("t" + k + "_logits");
                // The folded affine weights are rounded to float like every parameter of the (float) training graph.
                assertTrue(own.equalsWithEps(copied, 1e-6), "teacher " + k + " (training=" + training + "): " + own + " vs " + copied);
                assertTrue(own.std(0).sumNumber().doubleValue() > 1e-6, "logits differ between images");
            }
        }
        // The resnet teacher's residual adds came along as vertices; every teacher BN became a frozen affine map.
        ComputationGraphConfiguration conf = m.trainingConfiguration();
        assertInstanceOf(org.deeplearning4j.nn.conf.graph.ElementWiseVertex.class, conf.getVertices().get("t1_s2b1_add"));
        long bns = 0;
        for (String name : m.teacherLayers()) {
            org.deeplearning4j.nn.conf.layers.Layer layer = ((org.deeplearning4j.nn.conf.graph.LayerVertex) conf.getVertices().get(name))
                    .getLayerConf().getLayer();
            FrozenLayerWithBackprop frozen = assertInstanceOf(FrozenLayerWithBackprop.class, layer, name);
            assertFalse(frozen.getUnderlying() instanceof BatchNormalization, name);
            bns += name.endsWith("_bn") ? 1 : 0;
        }
        assertEquals(bns, m.outputs().stream().filter(o -> o.startsWith(CdfkdMfs.BN_PREFIX)).count(), "one statistics head per teacher BN");
        assertEquals(List.of("cdfkd_h0", "cdfkd_h1", CdfkdMfs.ENSEMBLE), m.outputs().subList((int) bns, m.outputs().size()));
        assertEquals(List.of(CdfkdMfs.STUDENT_IMAGE), conf.getVertexInputs().get("conv1_conv"), "the student reads the reversed images");
    }

    private static final List<String> STUDENT_SAMPLE = List.of("conv1_conv_W", "conv2_bn_gamma", "h0_e1_sep1_W", "h1_e2_sep2_dw_W",
            "h0_e2_bn1_beta", "h1_logits_W");
    private static final List<String> SKIP = List.of("_mean", "_var", "_log10stdev");

    /** Generator and student parameters (batch-norm running statistics are not gradients). */
    private static List<String> trainable(ComputationGraph g, CdfkdMfs m) {
        return g.paramTable().keySet().stream()
                .filter(n -> m.teacherLayers().stream().noneMatch(t -> n.startsWith(t + "_")))
                .filter(n -> SKIP.stream().noneMatch(n::endsWith))
                .toList();
    }

    @Test
    void generatorAndStudentGetTheScoreGradientThroughFrozenTeachersWhenTheReversalIsTheIdentity() {
        // Class-conditional, so that the check covers the class heads too (the card's heads are all there as well).
        CdfkdMfs m = new CdfkdMfs(settings(NOISE).withClassWeight(0.5), STUDENT, IMAGE, CLASSES, TRAIN, teachers(), new int[] {3, 2});
        ComputationGraph g = doubleTrainingGraph(m);
        MultiDataSet data = toDouble(noise(m, 1));
        // Every generator parameter, and a sample of the student's (each entry costs two forward passes).
        List<String> names = trainable(g, m).stream().filter(n -> n.startsWith("gen_") || STUDENT_SAMPLE.contains(n)).toList();
        assertEquals(16 + STUDENT_SAMPLE.size(), names.size(), names.toString()); // generator: fc, 3 convs (W, b each), 4 BNs (gamma, beta each)

        // λ = −1: the reversal is the identity, so the graph's gradient must be the gradient of its score.
        GradientReversal.setLambda(g, CdfkdMfs.STUDENT_IMAGE, -1);
        GradientReversal.setLambda(g, "t0_reversed", -1);
        GradientReversal.setLambda(g, "t1_reversed", -1);
        Map<String, INDArray> analytic = analyticGradient(g, data);
        Map<String, INDArray> numeric = numericGradient(g, data, names);
        for (String name : names) {
            double error = io.distillery.loss.AdversarialGraphs.maxRelativeError(analytic.get(name), numeric.get(name), 1e-8);
            assertTrue(error < 1e-6, name + ": relative error " + error);
        }
        assertTrue(numeric.get("gen_fc_W").norm2Number().doubleValue() > 1e-6, "the generator gets a gradient at all");
        for (String name : g.paramTable().keySet()) {
            if (m.teacherLayers().stream().anyMatch(t -> name.startsWith(t + "_"))) {
                INDArray frozen = analytic.get(name);
                assertTrue(frozen == null || frozen.norm2Number().doubleValue() == 0, "frozen " + name);
            }
        }

        // Negative control: with the configured reversal the generator's gradient is no longer the score's; the student's is.
        GradientReversal.setLambda(g, CdfkdMfs.STUDENT_IMAGE, m.reversalLambda());
        GradientReversal.setLambda(g, "t0_reversed", m.reversalLambda());
        GradientReversal.setLambda(g, "t1_reversed", m.reversalLambda());
        Map<String, INDArray> reversed = analyticGradient(g, data);
        double generatorError = io.distillery.loss.AdversarialGraphs.maxRelativeError(reversed.get("gen_conv3_W"), numeric.get("gen_conv3_W"), 1e-8);
        assertTrue(generatorError > 1e-2, "reversed generator gradient must differ from the score's, error " + generatorError);
        double studentError = io.distillery.loss.AdversarialGraphs.maxRelativeError(reversed.get("h1_logits_W"), numeric.get("h1_logits_W"), 1e-8);
        assertTrue(studentError < 1e-5, "the student still descends, error " + studentError);
    }

    @Test
    void teachersDoNotMoveUnderFitWhileGeneratorAndStudentDo() {
        CdfkdMfs m = method(teachers());
        ComputationGraph g = doubleTrainingGraph(m);
        m.setLearningRates(g, 0.01);
        assertEquals(0.001, g.getLearningRate("gen_fc"), 1e-12);
        assertEquals(0.01, g.getLearningRate("h0_logits"), 1e-12);
        Map<String, INDArray> before = new LinkedHashMap<>();
        g.paramTable().forEach((k, v) -> before.put(k, v.dup()));
        for (int i = 0; i < 3; i++) {
            g.fit(toDouble(noise(m, 10 + i)));
        }
        for (Map.Entry<String, INDArray> e : g.paramTable().entrySet()) {
            boolean teacher = m.teacherLayers().stream().anyMatch(t -> e.getKey().startsWith(t + "_"));
            if (teacher) {
                assertEquals(before.get(e.getKey()), e.getValue(), "teacher parameter " + e.getKey() + " moved");
            }
        }
        // A trainer sets the student's rate every epoch, after the updater exists (DL4J's per-layer setter fails
        // then); the live updater must follow: at rate 0 the student stands still while the generator trains.
        m.setLearningRates(g, 0);
        assertEquals(0, g.getLearningRate("h0_logits"), 1e-12);
        assertEquals(0.001, g.getLearningRate("gen_fc"), 1e-12);
        INDArray studentBefore = g.getParam("h0_logits_W").dup(), generatorBefore = g.getParam("gen_fc_W").dup();
        g.fit(toDouble(noise(m, 20)));
        assertEquals(studentBefore, g.getParam("h0_logits_W"), "student at rate 0");
        assertFalse(generatorBefore.equals(g.getParam("gen_fc_W")), "generator at its own rate");
        assertFalse(before.get("gen_fc_W").equals(g.getParam("gen_fc_W")), "the generator trains");
        assertFalse(before.get("h0_logits_W").equals(g.getParam("h0_logits_W")), "the student trains");
        assertTrue(Double.isFinite(g.score()));
    }

    // ------------------------------------------------------------------ the deployable student

    @Test
    void deployableStudentAveragesItsHeadersAndCarriesTheTrainedParameters() {
        CdfkdMfs m = method(teachers());
        ComputationGraph g = doubleTrainingGraph(m);
        g.fit(toDouble(noise(m, 3)));
        ComputationGraph s = m.student(g);
        assertEquals(List.of(ModelZoo.INPUT), s.getConfiguration().getNetworkInputs());
        assertEquals(List.of(ModelZoo.OUTPUT), s.getConfiguration().getNetworkOutputs());
        for (org.deeplearning4j.nn.api.Layer layer : s.getLayers()) {
            String name = layer.conf().getLayer().getLayerName();
            if (layer.numParams() > 0) {
                assertEquals(g.getLayer(name).params().castTo(DataType.FLOAT), layer.params().castTo(DataType.FLOAT), name);
            }
        }
        Nd4j.getRandom().setSeed(4);
        INDArray images = Nd4j.rand(DataType.FLOAT, 3, 1, 8, 8);
        Map<String, INDArray> acts = s.feedForward(new INDArray[] {images}, false, false);
        INDArray mean = acts.get("h0_logits").add(acts.get("h1_logits")).divi(2);
        assertTrue(mean.equalsWithEps(acts.get(ModelZoo.LOGITS), 1e-6), "logits = mean of the headers");
        assertTrue(acts.get("h0_logits").sub(acts.get("h1_logits")).norm2Number().doubleValue() > 1e-6, "the headers differ");
        assertTrue(org.nd4j.linalg.ops.transforms.Transforms.softmax(acts.get(ModelZoo.LOGITS), true)
                .equalsWithEps(s.outputSingle(images), 1e-6));
        assertEquals(m.studentConfiguration().toJson(), ComputationGraphConfiguration.fromJson(m.studentConfiguration().toJson()).toJson());
        assertTrue(m.trainingConfiguration().toJson().contains("BatchStatsLoss"), "the training graph serialises (Spark ships it as JSON)");
        assertEquals(m.trainingConfiguration(), ComputationGraphConfiguration.fromJson(m.trainingConfiguration().toJson()));
    }

    // ------------------------------------------------------------------ settings

    @Test
    void settingsAndBadInputs() {
        MethodSettings.CdfkdMfs fromReference = MethodSettings.CdfkdMfs.from(
                ConfigFactory.parseResources("distillery-reference.conf").getConfig("distillery.distill.cdfkd-mfs"));
        assertEquals(MethodSettings.CdfkdMfs.off(), fromReference);
        assertEquals(3, fromReference.headersFor(3));
        assertThrows(BadInputException.class, () -> new CdfkdMfs(settings(NOISE), STUDENT, new ImageShape(10, 10, 1), CLASSES, TRAIN,
                teachers(), new int[] {3, 2}));
        assertThrows(BadInputException.class, () -> new CdfkdMfs(settings(NOISE), STUDENT, IMAGE, 5, TRAIN, teachers(), new int[] {3, 2}));
        assertThrows(BadInputException.class, () -> new CdfkdMfs(settings(NOISE), STUDENT, IMAGE, CLASSES, TRAIN, List.of()));
        assertThrows(BadInputException.class, () -> MethodSettings.CdfkdMfs.from(ConfigFactory.parseString("variant = other")
                .withFallback(ConfigFactory.parseResources("distillery-reference.conf").getConfig("distillery.distill.cdfkd-mfs"))));
        CdfkdMfs m = method(teachers());
        assertEquals(0.2, m.reversalLambda(), 1e-12);
        assertEquals(2, m.headers());
        NoiseBatches.Layout layout = m.noiseLayout();
        assertEquals(0, layout.classes());
        for (boolean classHead : layout.classLabels()) {
            assertFalse(classHead, "the card's game: every head compares graph activations against zeros");
        }
    }

    @Test
    void aClassConditionalGeneratorReadsTheClassAndEachTeacherGetsACrossEntropyHead() {
        CdfkdMfs m = new CdfkdMfs(settings(NOISE).withClassWeight(0.5), STUDENT, IMAGE, CLASSES, TRAIN, teachers(), new int[] {3, 2});
        NoiseBatches.Layout layout = m.noiseLayout();
        assertEquals(CLASSES, layout.classes());
        assertEquals(NOISE + CLASSES, m.trainingConfiguration().getVertices().get("gen_fc") instanceof org.deeplearning4j.nn.conf.graph.LayerVertex v
                ? ((org.deeplearning4j.nn.conf.layers.FeedForwardLayer) v.getLayerConf().getLayer()).getNIn() : -1, "noise then one-hot class");
        List<String> classHeads = new java.util.ArrayList<>();
        for (int h = 0; h < layout.classLabels().length; h++) {
            if (layout.classLabels()[h]) {
                classHeads.add(m.outputs().get(h));
            }
        }
        assertEquals(List.of(CdfkdMfs.CLASS_PREFIX + 0, CdfkdMfs.CLASS_PREFIX + 1), classHeads);
        assertEquals(List.of("t0_logits"), m.trainingConfiguration().getVertexInputs().get(CdfkdMfs.CLASS_PREFIX + 0),
                "before the reversal: the generator descends it");
        ComputationGraph g = m.trainingGraph();
        g.fit(NoiseBatches.batch(5, 0, 0, BATCH, layout));
        assertTrue(Double.isFinite(g.score()));
    }
}
