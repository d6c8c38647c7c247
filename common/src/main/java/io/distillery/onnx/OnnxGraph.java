package io.distillery.onnx;

import io.distillery.errors.BadInputException;
import onnx.Onnx;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What an imported ONNX model is (opset, producer, its one image input, its outputs, the names of
 * all its values) and the one edit precompute needs: exposing intermediate values as graph outputs,
 * since ONNX Runtime fetches graph outputs only. Read with ND4J's generated ONNX protobuf classes.
 */
public final class OnnxGraph {
    private final Onnx.ModelProto model;
    private final String source;

    private OnnxGraph(Onnx.ModelProto model, String source) {
        this.model = model;
        this.source = source;
    }

    /** Parses ONNX bytes; anything that is not an ONNX model with one non-initializer input is a one-line error naming {@code source}. */
    public static OnnxGraph parse(byte[] bytes, String source) {
        Onnx.ModelProto m;
        try {
            m = Onnx.ModelProto.parseFrom(bytes);
        } catch (Exception e) {
            throw new BadInputException("teacher " + source + " is not an ONNX model: " + firstLine(e.getMessage()), e);
        }
        if (!m.hasGraph() || m.getGraph().getNodeCount() == 0) {
            throw new BadInputException("teacher " + source + " is not an ONNX model (no graph nodes)");
        }
        OnnxGraph g = new OnnxGraph(m, source);
        List<Onnx.ValueInfoProto> inputs = g.imageInputs();
        if (inputs.size() != 1) {
            throw new BadInputException("teacher " + source + " has " + inputs.size() + " inputs " + inputs.stream().map(Onnx.ValueInfoProto::getName).toList()
                    + "; expected one image input");
        }
        if (m.getGraph().getOutputCount() == 0) {
            throw new BadInputException("teacher " + source + " has no graph outputs");
        }
        return g;
    }

    private List<Onnx.ValueInfoProto> imageInputs() {
        Set<String> initializers = new LinkedHashSet<>();
        model.getGraph().getInitializerList().forEach(t -> initializers.add(t.getName()));
        return model.getGraph().getInputList().stream().filter(v -> !initializers.contains(v.getName())).toList();
    }

    public String inputName() {
        return imageInputs().get(0).getName();
    }

    /** The input's dimensions; -1 for a symbolic or unknown one (e.g. a dynamic batch). */
    public long[] inputShape() {
        Onnx.ValueInfoProto in = imageInputs().get(0);
        if (!in.getType().hasTensorType() || !in.getType().getTensorType().hasShape()) {
            return new long[0];
        }
        return in.getType().getTensorType().getShape().getDimList().stream()
                .mapToLong(d -> d.hasDimValue() && d.getDimValue() > 0 ? d.getDimValue() : -1).toArray();
    }

    /** The input's dimensions in text: symbolic ones by name, e.g. {@code [batch, 1, 28, 28]}. */
    public String inputShapeText() {
        Onnx.ValueInfoProto in = imageInputs().get(0);
        if (!in.getType().hasTensorType() || !in.getType().getTensorType().hasShape()) {
            return "[unknown]";
        }
        List<String> dims = new ArrayList<>();
        for (Onnx.TensorShapeProto.Dimension d : in.getType().getTensorType().getShape().getDimList()) {
            dims.add(d.hasDimValue() ? Long.toString(d.getDimValue()) : d.getDimParam().isEmpty() ? "?" : d.getDimParam());
        }
        return dims.toString();
    }

    public List<String> outputNames() {
        return model.getGraph().getOutputList().stream().map(Onnx.ValueInfoProto::getName).toList();
    }

    /** The default ONNX opset the model imports. */
    public long opset() {
        return model.getOpsetImportList().stream().filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"))
                .mapToLong(Onnx.OperatorSetIdProto::getVersion).max().orElse(-1);
    }

    public String producerName() {
        return model.getProducerName();
    }

    public String producerVersion() {
        return model.getProducerVersion();
    }

    /** Parameters: elements of all float initializers (weights, biases, batch-norm statistics). */
    public long parameters() {
        long n = 0;
        for (Onnx.TensorProto t : model.getGraph().getInitializerList()) {
            long size = 1;
            for (long d : t.getDimsList()) {
                size *= d;
            }
            n += size;
        }
        return n;
    }

    /** Names a tap can take: the image input and every node output, sorted. */
    public TreeSet<String> valueNames() {
        TreeSet<String> names = new TreeSet<>();
        names.add(inputName());
        for (Onnx.NodeProto node : model.getGraph().getNodeList()) {
            for (String out : node.getOutputList()) {
                if (!out.isEmpty()) {
                    names.add(out);
                }
            }
        }
        return names;
    }

    /** Checks every name is a value of the graph; otherwise a one-line error from {@code where} listing the valid names. */
    public void requireValues(String where, Collection<String> names) {
        TreeSet<String> valid = valueNames();
        for (String name : names) {
            if (!valid.contains(name)) {
                throw new BadInputException(where + "'" + name + "' is not a value of ONNX teacher " + source + "; valid names: " + valid);
            }
        }
    }

    /** The model's bytes with each of {@code names} that is not already a graph output appended to graph.output. */
    public byte[] withOutputs(Collection<String> names) {
        Map<String, Boolean> wanted = new LinkedHashMap<>();
        names.forEach(n -> wanted.put(n, true));
        outputNames().forEach(wanted::remove);
        if (wanted.isEmpty()) {
            return model.toByteArray();
        }
        Onnx.GraphProto.Builder graph = model.getGraph().toBuilder();
        for (String name : wanted.keySet()) {
            // Name only: ONNX Runtime infers the type of an added output from the graph.
            graph.addOutput(Onnx.ValueInfoProto.newBuilder().setName(name).build());
        }
        return model.toBuilder().setGraph(graph).build().toByteArray();
    }

    /** Ops a prune-l1 walk passes through upstream: each keeps channel c of its (first) input as channel c. */
    private static final Set<String> PER_CHANNEL_OPS = Set.of("Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Clip",
            "HardSigmoid", "HardSwish", "Softplus", "BatchNormalization", "MaxPool", "AveragePool", "LpPool", "Add", "Identity", "Dropout");

    /**
     * InDistill's channel choice for the value {@code tap} (like {@link io.distillery.model.ChannelPruning}
     * for DL4J teachers): walk upstream through per-channel ops (activations, batch norm, pooling,
     * Add's first input) to the producing {@code Conv}, rank its output filters by the L1 norm of
     * its weight initializer [out, in, kh, kw] as stored in the file (with batch norm folded in
     * when the exporter folded it), keep the k largest (ties: lower index), ascending.
     */
    public io.distillery.model.ChannelPruning.Selection pruneL1(String tap, int k) {
        Map<String, Onnx.NodeProto> producers = new LinkedHashMap<>();
        for (Onnx.NodeProto node : model.getGraph().getNodeList()) {
            node.getOutputList().forEach(o -> producers.put(o, node));
        }
        List<String> path = new ArrayList<>();
        String at = tap;
        while (true) {
            Onnx.NodeProto node = producers.get(at);
            if (node == null) {
                throw noConv(tap, path, "'" + at + "' is not produced by a node (the model input?)");
            }
            path.add(node.getName().isEmpty() ? node.getOpType() : node.getName());
            if (node.getOpType().equals("Conv")) {
                String conv = node.getName().isEmpty() ? at : node.getName();
                double[] norms = filterL1Norms(node, conv);
                int channels = norms.length;
                if (k < 1 || k > channels) {
                    throw new BadInputException("tap '" + tap + "': cannot keep " + k + " channels by L1 norm (prune-l1=" + k + "); its convolution '"
                            + conv + "' has " + channels + " output channels, so k must be in 1.." + channels);
                }
                int[] kept = java.util.stream.IntStream.range(0, channels).boxed()
                        .sorted(java.util.Comparator.<Integer>comparingDouble(c -> -norms[c]).thenComparingInt(c -> c))
                        .limit(k).mapToInt(Integer::intValue).sorted().toArray();
                return new io.distillery.model.ChannelPruning.Selection(tap, conv, channels, kept);
            }
            if (!PER_CHANNEL_OPS.contains(node.getOpType()) || node.getInputCount() == 0) {
                throw noConv(tap, path, "'" + path.get(path.size() - 1) + "' is a " + node.getOpType()
                        + ", not a Conv or a per-channel op (activation, batch norm, pooling, Add)");
            }
            at = node.getInput(0);
        }
    }

    private double[] filterL1Norms(Onnx.NodeProto conv, String name) {
        String weightName = conv.getInputCount() > 1 ? conv.getInput(1) : "";
        Onnx.TensorProto w = model.getGraph().getInitializerList().stream().filter(t -> t.getName().equals(weightName)).findFirst()
                .orElseThrow(() -> new BadInputException("convolution '" + name + "': its weights '" + weightName
                        + "' are not an initializer; prune-l1 needs them stored in the model"));
        if (w.getDataType() != Onnx.TensorProto.DataType.FLOAT_VALUE || w.getDimsCount() != 4) {
            throw new BadInputException("convolution '" + name + "': weights '" + weightName + "' are not float32 [out, in, kh, kw]; prune-l1 cannot rank them");
        }
        int out = (int) w.getDims(0);
        long per = w.getDims(1) * w.getDims(2) * w.getDims(3);
        float[] values;
        if (!w.getRawData().isEmpty()) {
            java.nio.FloatBuffer fb = java.nio.ByteBuffer.wrap(w.getRawData().toByteArray()).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            values = new float[fb.remaining()];
            fb.get(values);
        } else {
            values = new float[w.getFloatDataCount()];
            for (int i = 0; i < values.length; i++) {
                values[i] = w.getFloatData(i);
            }
        }
        double[] norms = new double[out];
        for (int o = 0; o < out; o++) {
            for (long i = 0; i < per; i++) {
                norms[o] += Math.abs(values[(int) (o * per + i)]);
            }
        }
        return norms;
    }

    private static BadInputException noConv(String tap, List<String> path, String why) {
        return new BadInputException("tap '" + tap + "': no convolution found to rank its channels by L1 norm (prune-l1): walking upstream "
                + String.join(" <- ", path) + ", " + why);
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }
}
