package io.distillery.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Set;

/**
 * Running exported models in ONNX Runtime (CPU), and checking them against the DL4J graph they came
 * from. One {@link Runner} holds one ORT session; close it when done.
 */
public final class OnnxModels {
    private OnnxModels() {
    }

    /** An ORT session over ONNX bytes on the CPU, with {@code threads} intra-op threads and one inter-op thread. */
    public static Runner open(byte[] onnx, int threads) {
        return open(onnx, threads, -1);
    }

    /**
     * An ORT session over ONNX bytes, on CUDA device {@code cudaDevice} when it is {@code >= 0}
     * (operators CUDA lacks fall back to the CPU), else on the CPU; {@code threads} intra-op threads
     * and one inter-op thread either way.
     */
    public static Runner open(byte[] onnx, int threads, int cudaDevice) {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(Math.max(1, threads));
            options.setInterOpNumThreads(1);
            if (cudaDevice >= 0) {
                try {
                    options.addCUDA(cudaDevice);
                } catch (OrtException | RuntimeException e) {
                    throw new io.distillery.errors.BadInputException("precompute.device = \"cuda\": ONNX Runtime cannot use CUDA device " + cudaDevice
                            + " (" + firstLine(e.getMessage()) + "); build with 'mvn -Ponnxruntime-gpu' and run where the NVIDIA driver, CUDA 12 and"
                            + " cuDNN 9 libraries are installed, or set precompute.device = \"cpu\"", e);
                }
            }
            return new Runner(env, env.createSession(onnx, options));
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime cannot load the model: " + e.getMessage(), e);
        }
    }

    public static final class Runner implements AutoCloseable {
        private final OrtEnvironment env;
        private final OrtSession session;

        private Runner(OrtEnvironment env, OrtSession session) {
            this.env = env;
            this.session = session;
        }

        public Set<String> outputNames() {
            return session.getOutputNames();
        }

        public Map<String, String> metadata() {
            try {
                return session.getMetadata().getCustomMetadata();
            } catch (OrtException e) {
                throw new IllegalStateException(e);
            }
        }

        /** One output tensor as float32, row-major, with its shape. */
        public record Tensor(float[] data, long[] shape) {
        }

        /**
         * Runs {@code data} (row-major, shape {@code shape}) as input {@code input} and returns the named
         * outputs exactly as ONNX Runtime gives them (float32; other element types are an error).
         */
        public Map<String, Tensor> run(String input, float[] data, long[] shape, java.util.Collection<String> outputs) {
            try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(data, 0, (int) java.util.Arrays.stream(shape).reduce(1, Math::multiplyExact)), shape);
                 OrtSession.Result result = session.run(Map.of(input, in), new java.util.LinkedHashSet<>(outputs))) {
                Map<String, Tensor> out = new java.util.LinkedHashMap<>();
                for (String name : outputs) {
                    OnnxValue value = result.get(name).orElseThrow(() -> new IllegalStateException("model has no output '" + name + "'"));
                    if (!(value instanceof OnnxTensor t) || t.getInfo().type != ai.onnxruntime.OnnxJavaType.FLOAT) {
                        throw new io.distillery.errors.BadInputException("ONNX output '" + name + "' is not a float32 tensor ("
                                + value.getInfo() + "); only float32 outputs can be stored");
                    }
                    FloatBuffer fb = t.getFloatBuffer();
                    float[] values = new float[fb.remaining()];
                    fb.get(values);
                    out.put(name, new Tensor(values, t.getInfo().getShape()));
                }
                return out;
            } catch (OrtException e) {
                throw new IllegalStateException("ONNX Runtime failed to run the model: " + firstLine(e.getMessage()), e);
            }
        }

        /** Runs {@code images} ({@code [N, C, H, W]}, pixels / 255) and returns output {@code output} as an {@code [N, K]} array. */
        public INDArray run(INDArray images, String output) {
            INDArray x = images.castTo(DataType.FLOAT).dup('c');
            try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x.data().asFloat()), x.shape());
                 OrtSession.Result result = session.run(Map.of(OnnxExport.INPUT, in), Set.of(output))) {
                OnnxValue value = result.get(output).orElseThrow(() -> new IllegalStateException("model has no output '" + output + "'"));
                OnnxTensor t = (OnnxTensor) value;
                FloatBuffer fb = t.getFloatBuffer();
                float[] data = new float[fb.remaining()];
                fb.get(data);
                return Nd4j.create(data, t.getInfo().getShape(), 'c');
            } catch (OrtException e) {
                throw new IllegalStateException("ONNX Runtime failed to run the model: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            try {
                session.close();
            } catch (OrtException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /**
     * How an exported model's logits compare with its DL4J graph's on the same images.
     *
     * @param images        images compared
     * @param maxAbsDiff    largest |ONNX logit − DL4J logit| over all images and classes
     * @param argmaxAgree   images whose top class is the same in both
     * @param nearTies      disagreeing images whose DL4J top-two logits lie within twice that image's largest difference (float noise can flip them)
     */
    public record Comparison(int images, double maxAbsDiff, int argmaxAgree, int nearTies) {
        /** Within {@code tolerance} everywhere, and the top class differs nowhere except on near-ties. */
        public boolean passes(double tolerance) {
            return maxAbsDiff <= tolerance && argmaxAgree + nearTies == images;
        }

        /** {@code max |logit difference| 8.9e-07, same top class on 150/150}. */
        public String summary() {
            return String.format("max |logit difference| %.3g, same top class on %d/%d%s", maxAbsDiff, argmaxAgree, images,
                    nearTies > 0 ? " (" + nearTies + " near-ties)" : "");
        }

        @Override
        public String toString() {
            return images + " images: " + summary();
        }
    }

    /** Runs {@code images} through both the DL4J graph (inference mode) and the ONNX model, {@code batch} images at a time. */
    public static Comparison compare(ComputationGraph graph, byte[] onnx, INDArray images, int batch) {
        String logitsVertex = OnnxExport.logitsVertex(graph);
        long n = images.size(0);
        double maxDiff = 0;
        int agree = 0;
        int nearTies = 0;
        try (Runner runner = open(onnx, 1)) {
            for (long from = 0; from < n; from += batch) {
                INDArray x = images.get(NDArrayIndex.interval(from, Math.min(n, from + batch)), NDArrayIndex.all(), NDArrayIndex.all(),
                        NDArrayIndex.all()).dup('c');
                INDArray expected = dl4jLogits(graph, logitsVertex, x).castTo(DataType.DOUBLE);
                INDArray actual = runner.run(x, OnnxExport.LOGITS).castTo(DataType.DOUBLE);
                for (int i = 0; i < x.size(0); i++) {
                    double[] er = expected.getRow(i).toDoubleVector();
                    double[] ar = actual.getRow(i).toDoubleVector();
                    double rowDiff = 0;
                    for (int k = 0; k < er.length; k++) {
                        rowDiff = Math.max(rowDiff, Math.abs(er[k] - ar[k]));
                    }
                    maxDiff = Math.max(maxDiff, rowDiff);
                    if (argmax(er) == argmax(ar)) {
                        agree++;
                    } else if (margin(er) <= 2 * rowDiff) {
                        nearTies++;
                    }
                }
            }
        }
        return new Comparison((int) n, maxDiff, agree, nearTies);
    }

    /** DL4J's logits for {@code x} (inference mode): the activations the export names {@value OnnxExport#LOGITS}. */
    public static INDArray dl4jLogits(ComputationGraph graph, INDArray x) {
        return dl4jLogits(graph, OnnxExport.logitsVertex(graph), x);
    }

    private static INDArray dl4jLogits(ComputationGraph graph, String logitsVertex, INDArray x) {
        Map<String, INDArray> acts = graph.feedForward(x, false);
        if (!(graph.getConfiguration().getVertices().get(logitsVertex) instanceof LayerVertex lv
                && lv.getLayerConf().getLayer() instanceof OutputLayer)) {
            return acts.get(logitsVertex);
        }
        // An OutputLayer's activations are its softmax; its logits are the pre-activation, input x W + b.
        INDArray in = acts.get(graph.getConfiguration().getVertexInputs().get(logitsVertex).get(0));
        if (lv.getPreProcessor() != null) {
            in = lv.getPreProcessor().preProcess(in, (int) in.size(0), LayerWorkspaceMgr.noWorkspaces());
        }
        Map<String, INDArray> p = graph.getLayer(logitsVertex).paramTable();
        INDArray z = in.mmul(p.get("W"));
        return p.containsKey("b") ? z.addiRowVector(p.get("b")) : z;
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private static double margin(double[] v) {
        int best = argmax(v);
        double second = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < v.length; i++) {
            if (i != best) {
                second = Math.max(second, v[i]);
            }
        }
        return v[best] - second;
    }
}
