package io.distillery.loss;

import io.distillery.layer.GradientReversal;
import io.distillery.vertex.BatchStacking;
import java.util.LinkedHashMap;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.iter.NdIndexIterator;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/**
 * Test fixtures for KDFM's adversarial sub-graph, as the method class will wire it:
 * <pre>
 *   "fake" [B,C,H,W] → student (1x1 conv) → grl (GradientReversal λ) ─┐
 *   "real" [B,C,H,W] ───────────────────────────────────────────────── stack → D → pairs → adv (LossLayer)
 * </pre>
 * D = 1x1 conv → LeakyReLU 0.2 → 3x3 stride-2 conv → LeakyReLU 0.2 → global average pool → dense 1
 * (widths shrunk for speed). Also a plain numerical gradient per named parameter, for checks that
 * DL4J's GradientCheckUtil cannot express (reversed gradients).
 */
public final class AdversarialGraphs {
    public static final int BATCH = 3, CHANNELS = 2, SIZE = 4, D1 = 4, D2 = 3;
    /** Vertex names. */
    public static final String FAKE = "fake", REAL = "real", STUDENT = "student", GRL = "grl", STACK = "stack",
            LOGIT = "d_logit", PAIRS = "pairs", ADV = "adv";

    private AdversarialGraphs() {}

    /** The sub-graph in double precision with a no-op updater, as gradient checks need. */
    public static ComputationGraphConfiguration subGraph(double lambda, ILossFunction loss) {
        return subGraph(lambda, loss, DataType.DOUBLE, new NoOp(), WorkspaceMode.ENABLED, true);
    }

    /**
     * @param pairs whether D's [2B, 1] logits go through {@link BatchStacking#halvesToColumns()} before the
     *              loss layer (the design) or straight into it (only to show why that is wrong)
     */
    public static ComputationGraphConfiguration subGraph(double lambda, ILossFunction loss, DataType dataType,
            IUpdater updater, WorkspaceMode workspaces, boolean pairs) {
        ComputationGraphConfiguration.GraphBuilder b = new NeuralNetConfiguration.Builder()
                .seed(42).dataType(dataType).updater(updater).weightInit(WeightInit.XAVIER)
                .trainingWorkspaceMode(workspaces).inferenceWorkspaceMode(workspaces)
                .graphBuilder()
                .addInputs(FAKE, REAL)
                .setInputTypes(InputType.convolutional(SIZE, SIZE, CHANNELS), InputType.convolutional(SIZE, SIZE, CHANNELS))
                .addLayer(STUDENT, new ConvolutionLayer.Builder(1, 1).nOut(CHANNELS).activation(Activation.TANH).build(), FAKE)
                .addLayer(GRL, new GradientReversal.Builder().lambda(lambda).build(), STUDENT)
                .addVertex(STACK, BatchStacking.stack(), GRL, REAL);
        String logits = discriminator(b, STACK);
        if (pairs) {
            b.addVertex(PAIRS, BatchStacking.halvesToColumns(), logits);
            logits = PAIRS;
        }
        return b.addLayer(ADV, new LossLayer.Builder(loss).activation(Activation.IDENTITY).build(), logits)
                .setOutputs(ADV)
                .build();
    }

    /** KDFM's discriminator on {@code input}; returns the name of its logit layer ([2B, 1]). */
    public static String discriminator(ComputationGraphConfiguration.GraphBuilder b, String input) {
        b.addLayer("d_conv1", new ConvolutionLayer.Builder(1, 1).nOut(D1).activation(new ActivationLReLU(0.2))
                        .build(), input)
                .addLayer("d_conv2", new ConvolutionLayer.Builder(3, 3).stride(2, 2).convolutionMode(ConvolutionMode.Same)
                        .nOut(D2).activation(new ActivationLReLU(0.2)).build(), "d_conv1")
                .addLayer("d_gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "d_conv2")
                .addLayer(LOGIT, new DenseLayer.Builder().nOut(1).activation(Activation.IDENTITY).build(), "d_gap");
        return LOGIT;
    }

    public static ComputationGraph init(ComputationGraphConfiguration conf) {
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        return graph;
    }

    /** Student input, teacher maps (shifted so the two differ), dummy labels [B, 1]. */
    public static MultiDataSet data(long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray fake = Nd4j.randn(DataType.DOUBLE, BATCH, CHANNELS, SIZE, SIZE);
        INDArray real = Nd4j.randn(DataType.DOUBLE, BATCH, CHANNELS, SIZE, SIZE).addi(0.5);
        return new MultiDataSet(new INDArray[] {fake, real}, new INDArray[] {Nd4j.zeros(DataType.DOUBLE, BATCH, 1)});
    }

    /** The graph's gradient per parameter name, divided by the minibatch as DL4J's updater does. */
    public static Map<String, INDArray> analyticGradient(ComputationGraph graph, MultiDataSet data) {
        graph.setInputs(data.getFeatures());
        graph.setLabels(data.getLabels());
        graph.computeGradientAndScore();
        long batch = data.getLabels(0).size(0);
        Map<String, INDArray> out = new LinkedHashMap<>();
        graph.gradient().gradientForVariable().forEach((name, g) -> out.put(name, g.dup().divi(batch)));
        return out;
    }

    /** Central differences of {@code graph.score(data)} in each parameter, per parameter name. */
    public static Map<String, INDArray> numericGradient(ComputationGraph graph, MultiDataSet data, double eps) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> param : graph.paramTable().entrySet()) {
            INDArray p = param.getValue(); // a view of the graph's parameters, often in 'f' order
            INDArray numeric = Nd4j.zeros(DataType.DOUBLE, p.shape());
            for (NdIndexIterator it = new NdIndexIterator(p.shape()); it.hasNext(); ) {
                long[] at = it.next();
                double original = p.getDouble(at);
                p.putScalar(at, original + eps);
                double plus = graph.score(data, false);
                p.putScalar(at, original - eps);
                double minus = graph.score(data, false);
                p.putScalar(at, original);
                numeric.putScalar(at, (plus - minus) / (2 * eps));
            }
            out.put(param.getKey(), numeric);
        }
        return out;
    }

    /**
     * Largest relative error |a − e| / max(|a|, |e|) over the entries, ignoring absolute differences
     * below {@code minAbs} (rounding noise of the central differences).
     */
    public static double maxRelativeError(INDArray actual, INDArray expected, double minAbs) {
        if (!actual.equalShapes(expected)) {
            throw new IllegalArgumentException("shapes differ");
        }
        double worst = 0;
        for (NdIndexIterator it = new NdIndexIterator(expected.shape()); it.hasNext(); ) {
            long[] at = it.next();
            double a = actual.getDouble(at), e = expected.getDouble(at);
            double diff = Math.abs(a - e);
            if (diff > minAbs) {
                worst = Math.max(worst, diff / Math.max(Math.abs(a), Math.abs(e)));
            }
        }
        return worst;
    }
}
