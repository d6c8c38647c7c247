package io.distillery.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.config.MethodSettings;
import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.DistillationMethod;
import io.distillery.method.HintonKd;
import io.distillery.method.Kdfm;
import io.distillery.method.LabelCrossEntropy;
import io.distillery.method.StudentGraphs;
import io.distillery.method.TeacherOutputs;
import io.distillery.model.ModelZoo;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import onnx.Onnx;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LocalResponseNormalization;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Every zoo architecture and head, a KDFM deployed student and a graph using every other mapping,
 * exported with randomised weights and batch-norm statistics, run in ONNX Runtime and compared with
 * DL4J's logits on the same random images: max |difference| ≤ 1e-4 and the same top class.
 */
class OnnxExportTest {
    static final double TOLERANCE = 1e-4;
    private static final TrainSettings TRAIN = new TrainSettings(1, 8, 0.01, "constant", 0, 0, 1, 7);
    private static final ImageShape MNIST = new ImageShape(28, 28, 1);

    @ParameterizedTest(name = "{0} {1} {2}x{3}x{4}")
    @CsvSource({
            "cnn,    avg-pool, 28, 28, 1",
            "cnn,    flatten,  28, 28, 1",
            "resnet, avg-pool, 28, 28, 1",
            "resnet, flatten,  28, 28, 1",
            // odd sizes and colour: stride-2 convs and the 2x2 pools pad asymmetrically (27 -> 14 -> 7 -> 4)
            "resnet, flatten,  27, 27, 3",
            "cnn,    flatten,  27, 27, 3"})
    void zooModelsRunInOnnxRuntimeWithDl4jsLogits(String architecture, String head, int h, int w, int c) {
        ImageShape shape = new ImageShape(h, w, c);
        List<Integer> widths = architecture.equals("resnet") ? List.of(32, 64, 128) : List.of(16, 32, 64);
        ComputationGraph graph = new ComputationGraph(ModelZoo.classifier(new ModelSpec(architecture, widths, List.of(1, 1, 2), head),
                shape, 10, TRAIN));
        graph.init();
        randomise(graph, shape, 11);
        OnnxModels.Comparison cmp = check(graph, shape, 32, 5);
        System.out.printf("ONNX %s %s %s: %s%n", architecture, head, shape, cmp);
    }

    @Test
    void zooBatchNormKeepsLog10StdevWhichTheExportSquaresIntoTheVariance() {
        ComputationGraph graph = new ComputationGraph(ModelZoo.classifier(new ModelSpec("cnn", List.of(8, 16, 32), List.of(1, 1, 1)),
                MNIST, 10, TRAIN));
        graph.init();
        assertEquals(Set.of(BatchNormalizationParamInitializer.GAMMA, BatchNormalizationParamInitializer.BETA,
                        BatchNormalizationParamInitializer.GLOBAL_MEAN, BatchNormalizationParamInitializer.GLOBAL_LOG_STD),
                graph.getLayer("conv1_bn").paramTable().keySet());
        randomise(graph, MNIST, 3);
        Onnx.ModelProto model = OnnxExport.toModel(graph, MNIST, Map.of());
        Onnx.TensorProto var = model.getGraph().getInitializerList().stream().filter(t -> t.getName().equals("conv1_bn.var")).findFirst().orElseThrow();
        float[] onnxVar = new float[8];
        var.getRawData().asReadOnlyByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(onnxVar);
        INDArray logStd = graph.getLayer("conv1_bn").getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD);
        for (int i = 0; i < 8; i++) {
            double std = Math.pow(10, logStd.getDouble(i));
            // DL4J M2.1 infers with sqrt((10^log10stdev)^2 + eps): eps is added again, not taken off.
            assertEquals(std * std, onnxVar[i], 1e-6 * std * std, "variance of channel " + i);
        }
    }

    @ParameterizedTest(name = "teacher head {0}")
    @CsvSource({"avg-pool", "flatten"})
    void kdfmDeployedStudentWithTheTeachersFrozenHeadRunsInOnnxRuntime(String teacherHead) {
        ComputationGraph teacher = new ComputationGraph(ModelZoo.classifier(
                new ModelSpec("resnet", List.of(32, 64, 128), List.of(1, 1, 1), teacherHead), MNIST, 10, TRAIN));
        teacher.init();
        randomise(teacher, MNIST, 5);
        MethodSettings.Kdfm settings = new MethodSettings.Kdfm(MethodSettings.RECONSTRUCTED_V0, true, "stage3", "stage3", 0, 2, 0.9);
        List<DistillationMethod> methods = List.of(new LabelCrossEntropy(0.3, 10), new HintonKd(0.7, 4, 10), new Kdfm(settings, () -> teacher));
        ComputationGraph trained = StudentGraphs.build(new ModelSpec("cnn", List.of(16, 32, 64), List.of(1, 1, 2)), MNIST, 10, TRAIN,
                methods, teacherOutputs()).newGraph();
        randomise(trained, MNIST, 9);
        ComputationGraph deployed = StudentGraphs.deployable(trained);
        assertInstanceOf(FrozenLayerWithBackprop.class,
                ((LayerVertex) deployed.getConfiguration().getVertices().get(ModelZoo.LOGITS)).getLayerConf().getLayer());
        assertTrue(deployed.getConfiguration().getVertices().containsKey(Kdfm.CONNECTOR));
        assertEquals(teacher.getLayer(ModelZoo.LOGITS).params(), deployed.getLayer(ModelZoo.LOGITS).params());

        OnnxModels.Comparison cmp = check(deployed, MNIST, 32, 6);
        System.out.printf("ONNX KDFM student (teacher head %s): %s%n", teacherHead, cmp);
        Set<String> ops = new LinkedHashSet<>();
        OnnxExport.toModel(deployed, MNIST, Map.of()).getGraph().getNodeList().forEach(n -> ops.add(n.getOpType()));
        assertTrue(ops.contains("Gemm") && ops.contains("BatchNormalization"), ops.toString());
    }

    /** Layers and vertices the zoo does not use but the exporter maps: Truncate padding, biases, pooling kinds, element-wise ops, OutputLayer. */
    @Test
    void everyOtherMappingMatchesDl4j() {
        ImageShape shape = new ImageShape(11, 11, 2);
        var conf = new NeuralNetConfiguration.Builder().seed(3).weightInit(WeightInit.XAVIER).graphBuilder()
                .addInputs("img").setInputTypes(InputType.convolutional(11, 11, 2))
                .addLayer("c1", new ConvolutionLayer.Builder(3, 3).stride(2, 2).padding(1, 1).convolutionMode(ConvolutionMode.Truncate)
                        .nOut(6).activation(Activation.SIGMOID).build(), "img") // 11 -> 6
                .addLayer("c2", new ConvolutionLayer.Builder(3, 3).convolutionMode(ConvolutionMode.Same).nOut(6)
                        .activation(new ActivationLReLU(0.1)).build(), "c1")
                .addLayer("c3", new ConvolutionLayer.Builder(1, 1).convolutionMode(ConvolutionMode.Same).nOut(6).activation(Activation.TANH).build(), "c1")
                .addVertex("prod", new ElementWiseVertex(ElementWiseVertex.Op.Product), "c2", "c3")
                .addVertex("avg", new ElementWiseVertex(ElementWiseVertex.Op.Average), "c2", "c3", "prod")
                .addVertex("sub", new ElementWiseVertex(ElementWiseVertex.Op.Subtract), "avg", "c3")
                .addVertex("max", new ElementWiseVertex(ElementWiseVertex.Op.Max), "sub", "prod")
                .addLayer("ap", new SubsamplingLayer.Builder(PoolingType.AVG).kernelSize(2, 2).stride(2, 2)
                        .convolutionMode(ConvolutionMode.Truncate).build(), "max") // 6 -> 3
                .addLayer("bn4", new BatchNormalization.Builder().useLogStd(false).build(), "ap")
                .addLayer("mp", new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(3, 3).stride(2, 2)
                        .convolutionMode(ConvolutionMode.Same).build(), "bn4") // 3 -> 2, padded 1 on each side
                .addLayer("gmp", new GlobalPoolingLayer.Builder(PoolingType.MAX).build(), "max")
                .addLayer("flat_dense", new DenseLayer.Builder().nOut(7).activation(Activation.TANH).build(), "mp")
                .addLayer("d2", new DenseLayer.Builder().nOut(7).activation(Activation.RELU).build(), "gmp")
                .addVertex("sum", new ElementWiseVertex(ElementWiseVertex.Op.Add), "flat_dense", "d2", "d2")
                .addLayer("bn2d", new BatchNormalization.Builder().useLogStd(false).build(), "sum")
                .addLayer("drop", new DropoutLayer(0.5), "bn2d")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(5).activation(Activation.SOFTMAX).build(), "drop")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        randomise(graph, shape, 21);
        OnnxModels.Comparison cmp = check(graph, shape, 16, 4);
        System.out.println("ONNX mapping coverage graph: " + cmp);
    }

    @Test
    void anUnsupportedLayerOrVertexIsOneLineNamingItAndItsType() {
        var lrn = new NeuralNetConfiguration.Builder().graphBuilder().addInputs("input").setInputTypes(InputType.convolutional(8, 8, 1))
                .addLayer("c", new ConvolutionLayer.Builder(3, 3).nOut(4).build(), "input")
                .addLayer("lrn", new LocalResponseNormalization.Builder().build(), "c")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "lrn")
                .addLayer("logits", new DenseLayer.Builder().nOut(3).activation(Activation.IDENTITY).build(), "pool")
                .addLayer("output", new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).build(), "logits")
                .setOutputs("output").build();
        String message = exportError(lrn, new ImageShape(8, 8, 1));
        assertTrue(message.startsWith("cannot export to ONNX: layer 'lrn' is a LocalResponseNormalization, which the exporter does not support"),
                message);

        var merge = new NeuralNetConfiguration.Builder().graphBuilder().addInputs("input").setInputTypes(InputType.convolutional(8, 8, 1))
                .addLayer("a", new ConvolutionLayer.Builder(3, 3).nOut(4).build(), "input")
                .addLayer("b", new ConvolutionLayer.Builder(1, 1).nOut(4).build(), "input")
                .addVertex("merge", new MergeVertex(), "a", "b")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "merge")
                .addLayer("logits", new DenseLayer.Builder().nOut(3).activation(Activation.IDENTITY).build(), "pool")
                .addLayer("output", new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).build(), "logits")
                .setOutputs("output").build();
        assertTrue(exportError(merge, new ImageShape(8, 8, 1)).startsWith("cannot export to ONNX: vertex 'merge' is a MergeVertex, which"));
    }

    @Test
    void modelRecordsOpsetProducerAndMetadata() {
        ComputationGraph graph = new ComputationGraph(ModelZoo.classifier(new ModelSpec("cnn", List.of(8, 16, 32), List.of(1, 1, 1)),
                MNIST, 10, TRAIN));
        graph.init();
        byte[] bytes = OnnxExport.toBytes(graph, MNIST, Map.of("distillery.source_sha256", "sha256:abc"));
        Onnx.ModelProto m = OnnxExport.toModel(graph, MNIST, Map.of());
        assertEquals(OnnxExport.OPSET, m.getOpsetImport(0).getVersion());
        assertEquals(OnnxExport.IR_VERSION, m.getIrVersion());
        assertEquals("distillery", m.getProducerName());
        Map<String, String> meta = OnnxExport.metadata(bytes);
        assertEquals("sha256:abc", meta.get("distillery.source_sha256"));
        assertEquals(OnnxExport.MAPPING_VERSION, meta.get(OnnxExport.META_MAPPING));
        try (OnnxModels.Runner r = OnnxModels.open(bytes, 1)) {
            assertEquals(Set.of(OnnxExport.LOGITS, OnnxExport.PROBABILITIES), r.outputNames());
            assertEquals("sha256:abc", r.metadata().get("distillery.source_sha256"));
        }
        assertEquals(Map.of(), OnnxExport.metadata(new byte[]{1, 2, 3, 4, 5}));
    }

    private static String exportError(org.deeplearning4j.nn.conf.ComputationGraphConfiguration conf, ImageShape shape) {
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        String message = assertThrows(BadInputException.class, () -> OnnxExport.toBytes(g, shape, Map.of())).getMessage();
        assertEquals(1, message.lines().count(), message);
        return message;
    }

    /**
     * Exports, runs {@code n} random images in both engines, and checks logits (≤ 1e-4, same top class)
     * and, where the model has them, probabilities against DL4J's output.
     */
    static OnnxModels.Comparison check(ComputationGraph graph, ImageShape shape, int n, long seed) {
        byte[] onnx = OnnxExport.toBytes(graph, shape, Map.of());
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.rand(n, shape.channels(), shape.height(), shape.width());
        OnnxModels.Comparison cmp = OnnxModels.compare(graph, onnx, x, 16);
        assertEquals(n, cmp.images());
        assertTrue(cmp.maxAbsDiff() <= TOLERANCE, "max |logit difference| " + cmp.maxAbsDiff());
        assertEquals(n, cmp.argmaxAgree(), cmp.toString());
        INDArray logits = OnnxModels.dl4jLogits(graph, x);
        assertTrue(logits.std(0).minNumber().doubleValue() > 1e-3, "degenerate logits: every image gives the same " + logits.getRow(0));
        System.out.printf("ONNX check: max |DL4J logit| %.3g, logit std %.3g%n", logits.amaxNumber().doubleValue(), logits.stdNumber().doubleValue());
        try (OnnxModels.Runner r = OnnxModels.open(onnx, 1)) {
            INDArray probabilities = r.run(x, OnnxExport.PROBABILITIES);
            assertTrue(graph.outputSingle(false, x).equalsWithEps(probabilities, 1e-5), "probabilities differ");
        }
        return cmp;
    }

    /**
     * Moves every parameter off its initial value, as training would: weights by noise, biases and
     * batch-norm scale and shift at random, and each batch norm's running mean and variance near the
     * statistics its input really has on random images (off by a random shift and factor), so
     * activations keep a trained network's scale instead of growing layer after layer.
     */
    static void randomise(ComputationGraph graph, ImageShape shape, long seed) {
        Random rng = Nd4j.getRandomFactory().getNewRandomInstance(seed);
        List<String> batchNorms = new java.util.ArrayList<>();
        for (String v : graph.getConfiguration().getTopologicalOrderStr()) {
            Layer layer = graph.getLayer(v);
            if (layer == null || layer instanceof org.deeplearning4j.nn.layers.FrozenLayerWithBackprop) {
                continue; // inputs, vertices; KDFM's shared head keeps the teacher's (randomised) weights
            }
            for (var e : layer.paramTable().entrySet()) {
                INDArray p = e.getValue();
                INDArray value = switch (e.getKey()) {
                    case BatchNormalizationParamInitializer.GAMMA -> Nd4j.rand(rng, p.shape()).addi(0.5);
                    case BatchNormalizationParamInitializer.BETA, "b" -> Nd4j.randn(rng, p.shape()).muli(0.2);
                    case BatchNormalizationParamInitializer.GLOBAL_MEAN, BatchNormalizationParamInitializer.GLOBAL_VAR,
                         BatchNormalizationParamInitializer.GLOBAL_LOG_STD -> null; // below, from the real statistics
                    default -> p.add(Nd4j.randn(rng, p.shape()).muli(p.std(true).getDouble(0) * 0.2 + 1e-3));
                };
                if (value != null) {
                    layer.setParam(e.getKey(), value.castTo(p.dataType()));
                }
            }
            if (layer.paramTable().containsKey(BatchNormalizationParamInitializer.GLOBAL_MEAN)) {
                batchNorms.add(v);
            }
        }
        INDArray x = Nd4j.rand(rng, 32, shape.channels(), shape.height(), shape.width());
        for (String v : batchNorms) {
            Layer layer = graph.getLayer(v);
            INDArray in = graph.feedForward(x, false).get(graph.getConfiguration().getVertexInputs().get(v).get(0));
            int[] dims = in.rank() == 4 ? new int[]{0, 2, 3} : new int[]{0};
            INDArray mean = in.mean(dims);
            INDArray var = in.var(false, dims).addi(1e-3);
            long c = mean.length();
            INDArray runningMean = mean.add(Transforms.sqrt(var).muli(Nd4j.randn(rng, c)).muli(0.3));
            INDArray runningVar = var.mul(Nd4j.rand(rng, c).muli(1.2).addi(0.6));
            Map<String, INDArray> p = layer.paramTable();
            layer.setParam(BatchNormalizationParamInitializer.GLOBAL_MEAN, runningMean.reshape(p.get(BatchNormalizationParamInitializer.GLOBAL_MEAN).shape()));
            if (p.containsKey(BatchNormalizationParamInitializer.GLOBAL_VAR)) {
                layer.setParam(BatchNormalizationParamInitializer.GLOBAL_VAR, runningVar.reshape(p.get(BatchNormalizationParamInitializer.GLOBAL_VAR).shape()));
            } else {
                INDArray log10Std = Transforms.log(runningVar.add(1e-5), 10).muli(0.5); // DL4J: 10^log10stdev = sqrt(var + eps)
                layer.setParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD,
                        log10Std.reshape(p.get(BatchNormalizationParamInitializer.GLOBAL_LOG_STD).shape()));
            }
        }
    }

    /** A teacher-outputs manifest with the logits and a stage3 tap of a 28x28 ResNet teacher, as KDFM reads it. */
    static TeacherOutputs teacherOutputs() {
        List<ColumnSpec> columns = List.of(
                new ColumnSpec(TeacherOutputsTable.LOGITS, "binary", "float32-le", List.of(10), "K", null, "logits"),
                new ColumnSpec(TeacherOutputsTable.tapColumn("stage3"), "binary", "float16-le", List.of(128, 7, 7), "CHW", "stage3", "tap"));
        return new TeacherOutputs("resnet", new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 100, "h", columns, Map.of(), null));
    }
}
