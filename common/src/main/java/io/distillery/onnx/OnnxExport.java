package io.distillery.onnx;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import io.distillery.runtime.BuildInfo;
import onnx.Onnx;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.activations.impl.ActivationSigmoid;
import org.nd4j.linalg.activations.impl.ActivationSoftmax;
import org.nd4j.linalg.activations.impl.ActivationTanH;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.protobuf.ByteString;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes a DL4J {@link ComputationGraph} of the model zoo (and deployed students as
 * {@code StudentGraphs.deployable} makes them, KDFM's frozen teacher head included) as an ONNX model:
 * input {@value #INPUT} float32 {@code [N, C, H, W]} (pixels / 255, as our models take), outputs
 * {@value #LOGITS} {@code [N, K]} and, when the graph ends in a softmax loss, {@value #PROBABILITIES}.
 *
 * <p>Mapping (opset {@value #OPSET}, a conservative one every current runtime reads):
 * <ul>
 * <li>ConvolutionLayer → Conv with explicit pads. {@code ConvolutionMode.Same} pads like DL4J (and
 * TensorFlow's SAME): output ceil(in / stride), total padding max(0, (out − 1)·stride + k_eff − in),
 * the top/left half rounded down and the rest at the bottom/right; Truncate and Strict use the layer's
 * symmetric padding. Every computed output size is checked against DL4J's own shape inference.</li>
 * <li>BatchNormalization → BatchNormalization (inference form, running statistics; ONNX Runtime folds
 * it into the preceding Conv when it loads the model), epsilon = the layer's eps. DL4J may store
 * {@code log10stdev} instead of the variance (the zoo's layers do): DL4J M2.1's inference then takes
 * variance = (10^log10stdev)² and divides by sqrt(variance + eps), so that is the exported variance
 * (computed in double). Its configured activation is left out, as DL4J's layer ignores it.</li>
 * <li>ActivationLayer and layer activations → Relu, LeakyRelu, Sigmoid, Tanh, Softmax (axis 1), or
 * nothing for identity.</li>
 * <li>ElementWiseVertex → Add/Sum, Sub, Mul, Mean, Max.</li>
 * <li>SubsamplingLayer → MaxPool (or AveragePool when no padding is involved), padded as Conv.</li>
 * <li>GlobalPoolingLayer → GlobalAveragePool / GlobalMaxPool, then Flatten when DL4J collapses.</li>
 * <li>DenseLayer (and OutputLayer) → Gemm with DL4J's {@code [nIn, nOut]} weights; its
 * CnnToFeedForwardPreProcessor → Flatten(axis 1): both flatten NCHW in row-major ('c') order.</li>
 * <li>FrozenLayer / FrozenLayerWithBackprop → the wrapped layer; DropoutLayer → nothing (inference).</li>
 * <li>LossLayer (the network output) → its input is {@value #LOGITS}; a softmax activation adds
 * {@value #PROBABILITIES}.</li>
 * </ul>
 * Only the vertices the output depends on are exported, so method heads and extra inputs of a
 * training graph are left out. Anything else ends in one line naming the vertex and its type.
 */
public final class OnnxExport {
    public static final int OPSET = 13;
    /** ONNX IR version that goes with opset 13 (ONNX 1.8). */
    public static final long IR_VERSION = 7;
    public static final String INPUT = "input";
    public static final String LOGITS = "logits";
    public static final String PROBABILITIES = "probabilities";
    public static final String PRODUCER = "distillery";
    /** Bumped whenever the mapping changes, so an export made by an older mapping is never taken as up to date. */
    public static final String MAPPING_VERSION = "1";
    public static final String META_MAPPING = "distillery.onnx_mapping";
    public static final String META_INPUT_LAYOUT = "distillery.input_layout";
    public static final String INPUT_LAYOUT = "NCHW float32, pixels / 255";
    /** Dynamic batch dimension name of the input and outputs. */
    public static final String BATCH = "N";

    static final String SUPPORTED = "ConvolutionLayer, BatchNormalization, ActivationLayer, SubsamplingLayer, GlobalPoolingLayer, "
            + "DenseLayer, DropoutLayer, FrozenLayer(WithBackprop), LossLayer/OutputLayer as the output, ElementWiseVertex";

    private OnnxExport() {
    }

    /** The ONNX model's bytes; {@code metadata} entries go to {@code metadata_props} beside the exporter's own. */
    public static byte[] toBytes(ComputationGraph graph, ImageShape input, Map<String, String> metadata) {
        return toModel(graph, input, metadata).toByteArray();
    }

    public static Onnx.ModelProto toModel(ComputationGraph graph, ImageShape input, Map<String, String> metadata) {
        return export(graph, input, metadata).model();
    }

    /**
     * An export and, for each exported vertex, the ONNX value holding its activations: the vertex's
     * own name, unless that name is taken ({@value #INPUT}, {@value #LOGITS} for the logits vertex).
     * Only vertices the logits depend on are exported.
     */
    public record Exported(Onnx.ModelProto model, Map<String, String> values) {
    }

    public static Exported export(ComputationGraph graph, ImageShape input, Map<String, String> metadata) {
        Exporter exporter = new Exporter(graph, input);
        Onnx.ModelProto model = exporter.model(metadata);
        return new Exported(model, Map.copyOf(exporter.tensor));
    }

    /** The DL4J vertex whose activations are the exported {@value #LOGITS}. */
    public static String logitsVertex(ComputationGraph graph) {
        ComputationGraphConfiguration conf = graph.getConfiguration();
        String out = outputVertex(conf);
        Layer layer = layerOf(conf.getVertices().get(out));
        if (layer instanceof LossLayer) {
            return conf.getVertexInputs().get(out).get(0);
        }
        return out;
    }

    /** The metadata entries of an ONNX model (its {@code metadata_props}); empty when the bytes are no ONNX model. */
    public static Map<String, String> metadata(byte[] onnx) {
        Map<String, String> m = new LinkedHashMap<>();
        try {
            for (Onnx.StringStringEntryProto e : Onnx.ModelProto.parseFrom(onnx).getMetadataPropsList()) {
                m.put(e.getKey(), e.getValue());
            }
        } catch (org.nd4j.shade.protobuf.InvalidProtocolBufferException e) {
            return Map.of();
        }
        return m;
    }

    /** The single output the exporter follows: the graph's only output, or {@value ModelZoo#OUTPUT} among several. */
    private static String outputVertex(ComputationGraphConfiguration conf) {
        List<String> outputs = conf.getNetworkOutputs();
        if (outputs.size() == 1) {
            return outputs.get(0);
        }
        if (outputs.contains(ModelZoo.OUTPUT)) {
            return ModelZoo.OUTPUT;
        }
        throw new BadInputException("cannot export to ONNX: the graph has outputs " + outputs + " and none is named '" + ModelZoo.OUTPUT + "'");
    }

    private static Layer layerOf(GraphVertex v) {
        if (!(v instanceof LayerVertex lv)) {
            return null;
        }
        Layer l = lv.getLayerConf().getLayer();
        while (true) {
            if (l instanceof FrozenLayerWithBackprop f) {
                l = f.getUnderlying();
            } else if (l instanceof FrozenLayer f) {
                l = f.getLayer();
            } else {
                return l;
            }
        }
    }

    /** One export: walks the graph in topological order and emits nodes and initializers. */
    private static final class Exporter {
        private final ComputationGraph graph;
        private final ComputationGraphConfiguration conf;
        private final ImageShape input;
        private final Map<String, InputType> types;
        private final Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder();
        private final Map<String, String> tensor = new HashMap<>();
        private final Set<String> usedNames = new HashSet<>();

        Exporter(ComputationGraph graph, ImageShape input) {
            this.graph = graph;
            this.conf = graph.getConfiguration();
            this.input = input;
            InputType in = InputType.convolutional(input.height(), input.width(), input.channels());
            try {
                this.types = conf.clone().getLayerActivationTypes(true, in); // on a clone: DL4J adds missing preprocessors
            } catch (RuntimeException e) {
                throw new BadInputException("cannot export to ONNX: the model does not accept " + input + " images: "
                        + String.valueOf(e.getMessage()).lines().findFirst().orElse(""), e);
            }
        }

        Onnx.ModelProto model(Map<String, String> metadata) {
            String outVertex = outputVertex(conf);
            String logits = logitsVertex(graph);
            Set<String> needed = io.distillery.method.StudentGraphs.ancestors(conf, logits);
            List<String> inputs = conf.getNetworkInputs().stream().filter(needed::contains).toList();
            if (inputs.size() != 1) {
                throw new BadInputException("cannot export to ONNX: the logits depend on " + inputs.size() + " graph inputs " + inputs
                        + "; expected one image input");
            }
            InputType logitsType = types.get(logits);
            if (!(logitsType instanceof InputType.InputTypeFeedForward ff)) {
                throw new BadInputException("cannot export to ONNX: vertex '" + logits + "' (the logits) has activations of type "
                        + logitsType + "; expected [N, classes]");
            }
            tensor.put(inputs.get(0), INPUT);
            tensor.put(logits, LOGITS);
            usedNames.addAll(List.of(INPUT, LOGITS, PROBABILITIES));
            g.setName("distillery");
            g.addInput(valueInfo(INPUT, BATCH, input.channels(), input.height(), input.width()));
            for (String v : conf.getTopologicalOrderStr()) {
                if (needed.contains(v) && !conf.getNetworkInputs().contains(v)) {
                    vertex(v);
                }
            }
            g.addOutput(valueInfo(LOGITS, BATCH, ff.getSize()));
            Layer outLayer = layerOf(conf.getVertices().get(outVertex));
            if ((outLayer instanceof LossLayer || outLayer instanceof OutputLayer) && activationOf(outLayer) instanceof ActivationSoftmax) {
                node("Softmax", outVertex + "/softmax", List.of(LOGITS), PROBABILITIES, intAttr("axis", 1));
                g.addOutput(valueInfo(PROBABILITIES, BATCH, ff.getSize()));
            }
            Onnx.ModelProto.Builder m = Onnx.ModelProto.newBuilder()
                    .setIrVersion(IR_VERSION)
                    .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                    .setProducerName(PRODUCER)
                    .setProducerVersion(BuildInfo.version())
                    .setDocString("Exported by Distillery from a DL4J ComputationGraph. Input '" + INPUT + "': " + INPUT_LAYOUT
                            + ". Outputs: '" + LOGITS + "'" + (g.getOutputCount() > 1 ? ", '" + PROBABILITIES + "' (softmax)" : "") + ".")
                    .setGraph(g);
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put(META_MAPPING, MAPPING_VERSION);
            meta.put(META_INPUT_LAYOUT, INPUT_LAYOUT);
            meta.putAll(metadata);
            meta.forEach((k, v) -> m.addMetadataProps(Onnx.StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
            return m.build();
        }

        /** The ONNX tensor holding vertex {@code v}'s activations. */
        private String out(String v) {
            return tensor.computeIfAbsent(v, this::fresh);
        }

        private String fresh(String base) {
            String name = base;
            for (int i = 2; usedNames.contains(name); i++) {
                name = base + "_" + i;
            }
            usedNames.add(name);
            return name;
        }

        private String in(String v) {
            String t = tensor.get(v);
            if (t == null) {
                throw new IllegalStateException("vertex '" + v + "' used before it was exported");
            }
            return t;
        }

        private void vertex(String v) {
            GraphVertex vertex = conf.getVertices().get(v);
            List<String> inputs = conf.getVertexInputs().get(v).stream().map(this::in).toList();
            if (vertex instanceof ElementWiseVertex e) {
                elementWise(v, e.getOp(), inputs);
                return;
            }
            if (!(vertex instanceof LayerVertex lv)) {
                throw unsupported(v, "vertex", vertex);
            }
            if (inputs.size() != 1) {
                throw new BadInputException("cannot export to ONNX: layer '" + v + "' has " + inputs.size() + " inputs");
            }
            String x = inputs.get(0);
            InputType inType = types.get(conf.getVertexInputs().get(v).get(0));
            InputPreProcessor pre = lv.getPreProcessor();
            if (pre != null) {
                if (pre instanceof CnnToFeedForwardPreProcessor cnn && cnn.getFormat() == CNN2DFormat.NCHW) {
                    // DL4J reshapes [N, C, H, W] in 'c' order to [N, C*H*W]: exactly ONNX's Flatten(axis 1).
                    String flat = fresh(v + "/flatten");
                    node("Flatten", v + "/flatten", List.of(x), flat, intAttr("axis", 1));
                    x = flat;
                    inType = pre.getOutputType(inType);
                } else {
                    throw new BadInputException("cannot export to ONNX: layer '" + v + "' has input preprocessor "
                            + pre.getClass().getSimpleName() + ", which the exporter does not support (only CnnToFeedForwardPreProcessor, NCHW)");
                }
            }
            Layer layer = layerOf(vertex);
            if (layer.getClass() == ConvolutionLayer.class) {
                convolution(v, (ConvolutionLayer) layer, x, inType);
            } else if (layer instanceof BatchNormalization bn) {
                batchNorm(v, bn, x);
            } else if (layer instanceof ActivationLayer a) {
                activation(v, a.getActivationFn(), x, out(v));
            } else if (layer.getClass() == SubsamplingLayer.class) {
                subsampling(v, (SubsamplingLayer) layer, x, inType);
            } else if (layer instanceof GlobalPoolingLayer gp) {
                globalPooling(v, gp, x, inType);
            } else if (layer.getClass() == DenseLayer.class || layer.getClass() == OutputLayer.class) {
                dense(v, layer, x);
            } else if (layer instanceof DropoutLayer) {
                node("Identity", v, List.of(x), out(v));
            } else {
                throw unsupported(v, "layer", layer);
            }
        }

        private static BadInputException unsupported(String v, String what, Object type) {
            return new BadInputException("cannot export to ONNX: " + what + " '" + v + "' is a " + type.getClass().getSimpleName()
                    + ", which the exporter does not support (supported: " + SUPPORTED + ")");
        }

        private void elementWise(String v, ElementWiseVertex.Op op, List<String> inputs) {
            String o = out(v);
            switch (op) {
                case Add -> node(inputs.size() == 2 ? "Add" : "Sum", v, inputs, o);
                case Subtract -> node("Sub", v, inputs, o);
                case Average -> node("Mean", v, inputs, o);
                case Max -> node("Max", v, inputs, o);
                case Product -> {
                    String acc = inputs.get(0);
                    for (int i = 1; i < inputs.size(); i++) {
                        String next = i == inputs.size() - 1 ? o : fresh(v + "/mul" + i);
                        node("Mul", v + "/mul" + i, List.of(acc, inputs.get(i)), next);
                        acc = next;
                    }
                }
                default -> throw new BadInputException("cannot export to ONNX: ElementWiseVertex '" + v + "' uses op " + op
                        + ", which the exporter does not support (Add, Subtract, Product, Average, Max)");
            }
        }

        private void convolution(String v, ConvolutionLayer c, String x, InputType inType) {
            requireNchw(v, c.getCnn2dDataFormat());
            Map<String, INDArray> p = params(v);
            int[] k = c.getKernelSize();
            int[] s = c.getStride();
            int[] d = c.getDilation();
            long[] pads = pads(v, c.getConvolutionMode(), c.getPadding(), k, s, d, inType);
            List<String> ins = new ArrayList<>(List.of(x, initializer(v + ".W", p.get("W"))));
            if (c.hasBias()) {
                ins.add(initializer(v + ".b", p.get("b").reshape(p.get("b").length())));
            }
            String pre = preActivation(v, c.getActivationFn());
            node("Conv", v, ins, pre, intsAttr("kernel_shape", k[0], k[1]), intsAttr("strides", s[0], s[1]),
                    intsAttr("dilations", d[0], d[1]), intsAttr("pads", pads), intAttr("group", 1));
            activation(v, c.getActivationFn(), pre, out(v));
        }

        private void batchNorm(String v, BatchNormalization bn, String x) {
            if (bn.getCnn2DFormat() != null) {
                requireNchw(v, bn.getCnn2DFormat());
            }
            Map<String, INDArray> p = params(v);
            int n = (int) bn.getNOut();
            float[] mean = floats(p.get(BatchNormalizationParamInitializer.GLOBAL_MEAN));
            float[] var = new float[n];
            double eps = bn.getEps();
            if (p.containsKey(BatchNormalizationParamInitializer.GLOBAL_VAR)) {
                var = floats(p.get(BatchNormalizationParamInitializer.GLOBAL_VAR));
            } else if (p.containsKey(BatchNormalizationParamInitializer.GLOBAL_LOG_STD)) {
                // DL4J 1.0.0-M2.1 at inference (its own path and the oneDNN helper alike): var = (10^log10stdev)^2,
                // then divides by sqrt(var + eps), as ONNX does. eps is added on top of the stored stdev, not taken off.
                double[] logStd = p.get(BatchNormalizationParamInitializer.GLOBAL_LOG_STD).castTo(DataType.DOUBLE).dup('c').data().asDouble();
                for (int i = 0; i < n; i++) {
                    double std = Math.pow(10, logStd[i]);
                    var[i] = (float) (std * std);
                }
            } else {
                throw new BadInputException("cannot export to ONNX: batch norm '" + v + "' has neither '" + BatchNormalizationParamInitializer.GLOBAL_VAR
                        + "' nor '" + BatchNormalizationParamInitializer.GLOBAL_LOG_STD + "' parameters: " + p.keySet());
            }
            float[] gamma;
            float[] beta;
            if (bn.isLockGammaBeta()) {
                gamma = new float[n];
                beta = new float[n];
                Arrays.fill(gamma, (float) bn.getGamma());
                Arrays.fill(beta, (float) bn.getBeta());
            } else {
                gamma = floats(p.get(BatchNormalizationParamInitializer.GAMMA));
                beta = floats(p.get(BatchNormalizationParamInitializer.BETA));
            }
            // No activation: DL4J's BatchNormalization layer returns its normalised output and ignores the
            // activation in its configuration (which defaults to the network's, often sigmoid).
            node("BatchNormalization", v, List.of(x, initializer(v + ".gamma", gamma), initializer(v + ".beta", beta),
                    initializer(v + ".mean", mean), initializer(v + ".var", var)), out(v), floatAttr("epsilon", (float) eps));
        }

        private void subsampling(String v, SubsamplingLayer s, String x, InputType inType) {
            requireNchw(v, s.getCnn2dDataFormat());
            int[] k = s.getKernelSize();
            int[] st = s.getStride();
            int[] d = s.getDilation();
            long[] pads = pads(v, s.getConvolutionMode(), s.getPadding(), k, st, d, inType);
            if (s.getPoolingType() == PoolingType.MAX) {
                node("MaxPool", v, List.of(x), out(v), intsAttr("kernel_shape", k[0], k[1]), intsAttr("strides", st[0], st[1]),
                        intsAttr("dilations", d[0], d[1]), intsAttr("pads", pads));
            } else if (s.getPoolingType() == PoolingType.AVG && Arrays.stream(pads).allMatch(q -> q == 0) && d[0] == 1 && d[1] == 1) {
                node("AveragePool", v, List.of(x), out(v), intsAttr("kernel_shape", k[0], k[1]), intsAttr("strides", st[0], st[1]));
            } else {
                throw new BadInputException("cannot export to ONNX: subsampling layer '" + v + "' uses " + s.getPoolingType()
                        + " pooling with padding " + Arrays.toString(pads) + " and dilation " + Arrays.toString(d)
                        + "; the exporter supports MAX, and AVG without padding or dilation");
            }
        }

        private void globalPooling(String v, GlobalPoolingLayer gp, String x, InputType inType) {
            int[] dims = gp.getPoolingDimensions();
            if (!(inType instanceof InputType.InputTypeConvolutional) || (dims != null && !Arrays.equals(dims, new int[]{2, 3}))) {
                throw new BadInputException("cannot export to ONNX: global pooling layer '" + v + "' pools " + inType + " over dimensions "
                        + Arrays.toString(dims) + "; the exporter supports NCHW maps pooled over [2, 3]");
            }
            String op = switch (gp.getPoolingType()) {
                case AVG -> "GlobalAveragePool";
                case MAX -> "GlobalMaxPool";
                default -> throw new BadInputException("cannot export to ONNX: global pooling layer '" + v + "' uses "
                        + gp.getPoolingType() + " pooling; the exporter supports AVG and MAX");
            };
            if (gp.isCollapseDimensions()) {
                String pooled = fresh(v + "/pooled");
                node(op, v, List.of(x), pooled);
                node("Flatten", v + "/flatten", List.of(pooled), out(v), intAttr("axis", 1));
            } else {
                node(op, v, List.of(x), out(v));
            }
        }

        private void dense(String v, Layer layer, String x) {
            boolean bias = layer instanceof DenseLayer d ? d.hasBias() : ((OutputLayer) layer).hasBias();
            if (layer instanceof DenseLayer d && d.hasLayerNorm()) {
                throw new BadInputException("cannot export to ONNX: dense layer '" + v + "' uses layer normalisation, which the exporter does not support");
            }
            Map<String, INDArray> p = params(v);
            List<String> ins = new ArrayList<>(List.of(x, initializer(v + ".W", p.get("W"))));
            if (bias) {
                ins.add(initializer(v + ".b", p.get("b").reshape(p.get("b").length())));
            }
            IActivation act = ((BaseLayer) layer).getActivationFn();
            if (layer instanceof OutputLayer) {
                // Its activation (softmax) is applied at the end as the probabilities; its pre-activation is the logits.
                node("Gemm", v, ins, out(v));
                return;
            }
            String pre = preActivation(v, act);
            node("Gemm", v, ins, pre);
            activation(v, act, pre, out(v));
        }

        /** Explicit [top, left, bottom, right] pads reproducing DL4J's convolution mode; the output size is checked against DL4J's. */
        private long[] pads(String v, ConvolutionMode mode, int[] padding, int[] k, int[] s, int[] d, InputType inType) {
            if (!(inType instanceof InputType.InputTypeConvolutional in)) {
                throw new BadInputException("cannot export to ONNX: layer '" + v + "' reads " + inType + "; expected an NCHW map");
            }
            long[] size = {in.getHeight(), in.getWidth()};
            long[] head = new long[2];
            long[] tail = new long[2];
            long[] outSize = new long[2];
            for (int i = 0; i < 2; i++) {
                long effK = (long) (k[i] - 1) * d[i] + 1;
                if (mode == ConvolutionMode.Same) {
                    outSize[i] = (size[i] + s[i] - 1) / s[i];
                    long total = Math.max(0, (outSize[i] - 1) * s[i] + effK - size[i]);
                    head[i] = total / 2;
                    tail[i] = total - head[i];
                } else if (mode == ConvolutionMode.Truncate || mode == ConvolutionMode.Strict) {
                    head[i] = padding[i];
                    tail[i] = padding[i];
                    outSize[i] = (size[i] + 2L * padding[i] - effK) / s[i] + 1;
                } else {
                    throw new BadInputException("cannot export to ONNX: layer '" + v + "' uses convolution mode " + mode
                            + "; the exporter supports Same, Truncate and Strict");
                }
            }
            if (types.get(v) instanceof InputType.InputTypeConvolutional o && (o.getHeight() != outSize[0] || o.getWidth() != outSize[1])) {
                throw new IllegalStateException("ONNX padding for '" + v + "' gives " + outSize[0] + "x" + outSize[1] + " but DL4J computes "
                        + o.getHeight() + "x" + o.getWidth());
            }
            return new long[]{head[0], head[1], tail[0], tail[1]};
        }

        private static void requireNchw(String v, CNN2DFormat format) {
            if (format != CNN2DFormat.NCHW) {
                throw new BadInputException("cannot export to ONNX: layer '" + v + "' uses data format " + format + "; the exporter supports NCHW");
            }
        }

        private static IActivation activationOf(Layer layer) {
            return layer instanceof BaseLayer b ? b.getActivationFn() : layer instanceof ActivationLayer a ? a.getActivationFn() : null;
        }

        private static boolean isIdentity(IActivation a) {
            return a == null || a instanceof ActivationIdentity;
        }

        /** Where a layer's main op writes: straight into the layer's tensor when its activation is the identity. */
        private String preActivation(String v, IActivation act) {
            return isIdentity(act) ? out(v) : fresh(v + "/preact");
        }

        private void activation(String v, IActivation act, String x, String y) {
            if (isIdentity(act)) {
                if (!x.equals(y)) {
                    node("Identity", v + "/identity", List.of(x), y);
                }
                return;
            }
            String name = v + "/act";
            if (act instanceof ActivationReLU r) {
                boolean plain = (r.getMax() == null || r.getMax() == 0) && (r.getThreshold() == null || r.getThreshold() == 0)
                        && (r.getNegativeSlope() == null || r.getNegativeSlope() == 0);
                if (!plain) {
                    throw new BadInputException("cannot export to ONNX: layer '" + v + "' uses a ReLU with max/threshold/negative slope " + r
                            + ", which the exporter does not support");
                }
                node("Relu", name, List.of(x), y);
            } else if (act instanceof ActivationLReLU l) {
                node("LeakyRelu", name, List.of(x), y, floatAttr("alpha", (float) l.getAlpha()));
            } else if (act instanceof ActivationSigmoid) {
                node("Sigmoid", name, List.of(x), y);
            } else if (act instanceof ActivationTanH) {
                node("Tanh", name, List.of(x), y);
            } else if (act instanceof ActivationSoftmax) {
                node("Softmax", name, List.of(x), y, intAttr("axis", 1));
            } else {
                throw new BadInputException("cannot export to ONNX: layer '" + v + "' uses activation " + act
                        + ", which the exporter does not support (identity, relu, leakyrelu, sigmoid, tanh, softmax)");
            }
        }

        private Map<String, INDArray> params(String v) {
            return graph.getLayer(v).paramTable();
        }

        private String initializer(String name, INDArray values) {
            String n = fresh(name);
            float[] data = floats(values);
            Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(n).setDataType(Onnx.TensorProto.DataType.FLOAT_VALUE);
            for (long dim : values.shape()) {
                t.addDims(dim);
            }
            g.addInitializer(t.setRawData(littleEndian(data)));
            return n;
        }

        private String initializer(String name, float[] data) {
            String n = fresh(name);
            g.addInitializer(Onnx.TensorProto.newBuilder().setName(n).setDataType(Onnx.TensorProto.DataType.FLOAT_VALUE)
                    .addDims(data.length).setRawData(littleEndian(data)));
            return n;
        }

        /** Row-major ('c') float values of an array, whatever its ordering, view or data type. */
        private static float[] floats(INDArray a) {
            float[] f = a.castTo(DataType.FLOAT).dup('c').data().asFloat();
            if (f.length != a.length()) {
                throw new IllegalStateException("expected " + a.length() + " values, got " + f.length);
            }
            return f;
        }

        private static ByteString littleEndian(float[] data) {
            ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(data);
            return ByteString.copyFrom(b.array());
        }

        private void node(String op, String name, List<String> inputs, String output, Onnx.AttributeProto... attrs) {
            Onnx.NodeProto.Builder n = Onnx.NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(inputs).addOutput(output);
            for (Onnx.AttributeProto a : attrs) {
                n.addAttribute(a);
            }
            g.addNode(n);
        }

        private static Onnx.AttributeProto intAttr(String name, long value) {
            return Onnx.AttributeProto.newBuilder().setName(name).setType(Onnx.AttributeProto.AttributeType.INT).setI(value).build();
        }

        private static Onnx.AttributeProto floatAttr(String name, float value) {
            return Onnx.AttributeProto.newBuilder().setName(name).setType(Onnx.AttributeProto.AttributeType.FLOAT).setF(value).build();
        }

        private static Onnx.AttributeProto intsAttr(String name, long... values) {
            Onnx.AttributeProto.Builder a = Onnx.AttributeProto.newBuilder().setName(name).setType(Onnx.AttributeProto.AttributeType.INTS);
            for (long x : values) {
                a.addInts(x);
            }
            return a.build();
        }

        private static Onnx.ValueInfoProto valueInfo(String name, String batch, long... dims) {
            Onnx.TensorShapeProto.Builder shape = Onnx.TensorShapeProto.newBuilder()
                    .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam(batch));
            for (long d : dims) {
                shape.addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
            }
            return Onnx.ValueInfoProto.newBuilder().setName(name)
                    .setType(Onnx.TypeProto.newBuilder().setTensorType(Onnx.TypeProto.Tensor.newBuilder()
                            .setElemType(Onnx.TensorProto.DataType.FLOAT_VALUE).setShape(shape)))
                    .build();
        }
    }
}
