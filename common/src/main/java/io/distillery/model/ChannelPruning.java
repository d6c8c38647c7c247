package io.distillery.model;

import io.distillery.errors.BadInputException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Convolution2D;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * InDistill's channel pruning of a teacher tap (Sarridis et al., arXiv 2205.10003), done on the
 * stored activation instead of on a copy of the network. InDistill keeps the k output filters of a
 * convolution with the largest L1 norm ({@code sum |W|} over input channels and kernel positions)
 * and runs the pruned layer on the unpruned input. Pruning only output channels of a convolution
 * that is followed by per-channel batch norm (inference statistics), element-wise activations,
 * per-channel pooling or an element-wise add of another branch selects exactly those channels of
 * the unpruned activation: so a pruned tap is the teacher activation restricted to the kept
 * channels, no second network needed.
 *
 * <p>The producing convolution is found by walking upstream from the tap vertex through
 * {@link ActivationLayer}, {@link BatchNormalization}, {@link SubsamplingLayer} and
 * {@link ElementWiseVertex} (first input: the zoo's ResNet adds the main branch first, so for
 * {@code stageN = relu(add(bn(conv_b), shortcut))} it is the residual branch's last convolution)
 * to the first plain {@link ConvolutionLayer}. Every vertex on the way keeps the channel count, so
 * that convolution's {@code nOut} is the tap's channel count.
 */
public final class ChannelPruning {

    private ChannelPruning() {
    }

    /**
     * The outcome for one tap.
     *
     * @param tap      the tap vertex
     * @param conv     the convolution whose output filters were ranked
     * @param channels the tap's (and the convolution's) channel count
     * @param kept     kept channel indices, ascending
     */
    public record Selection(String tap, String conv, int channels, int[] kept) {
        public List<Integer> keptList() {
            return Arrays.stream(kept).boxed().toList();
        }
    }

    /** The k channels of {@code tap} whose producing convolution's filters have the largest L1 norms, in ascending channel order. */
    public static Selection select(ComputationGraph graph, String tap, int k) {
        String conv = producingConv(graph.getConfiguration(), tap);
        double[] norms = filterL1Norms(graph, conv);
        int channels = norms.length;
        if (k < 1 || k > channels) {
            throw new BadInputException("tap '" + tap + "': cannot keep " + k + " channels by L1 norm (prune-l1=" + k + "); its convolution '"
                    + conv + "' has " + channels + " output channels, so k must be in 1.." + channels);
        }
        // Largest norm first; equal norms keep the lower index, so the choice is deterministic.
        int[] kept = IntStream.range(0, channels).boxed()
                .sorted(Comparator.<Integer>comparingDouble(c -> -norms[c]).thenComparingInt(c -> c))
                .limit(k).mapToInt(Integer::intValue).sorted().toArray();
        return new Selection(tap, conv, channels, kept);
    }

    /** Name of the convolution that produces {@code tap}'s channels (see the class comment for the walk). */
    public static String producingConv(ComputationGraphConfiguration conf, String tap) {
        List<String> path = new ArrayList<>();
        String at = tap;
        while (true) {
            path.add(at);
            GraphVertex vertex = conf.getVertices().get(at);
            if (vertex == null) {
                throw noConv(tap, path, conf.getNetworkInputs().contains(at) ? "reached the network input" : "'" + at + "' is not a layer");
            }
            List<String> inputs = conf.getVertexInputs().get(at);
            if (vertex instanceof LayerVertex lv) {
                Object layer = lv.getLayerConf().getLayer();
                if (layer.getClass() == ConvolutionLayer.class || layer.getClass() == Convolution2D.class) {
                    return at;
                }
                if (!(layer instanceof ActivationLayer || layer instanceof BatchNormalization
                        || layer.getClass() == SubsamplingLayer.class)) {
                    throw noConv(tap, path, "'" + at + "' is a " + layer.getClass().getSimpleName()
                            + ", not a convolution or a per-channel layer (activation, batch norm, pooling)");
                }
            } else if (!(vertex instanceof ElementWiseVertex)) {
                throw noConv(tap, path, "'" + at + "' is a " + vertex.getClass().getSimpleName() + " vertex");
            }
            if (inputs == null || inputs.isEmpty()) {
                throw noConv(tap, path, "'" + at + "' has no input");
            }
            at = inputs.get(0);
        }
    }

    /** Per output filter of a convolution: the sum of |W| over input channels and kernel positions (weights [nOut, nIn, kH, kW]). */
    public static double[] filterL1Norms(ComputationGraph graph, String conv) {
        Layer layer = graph.getLayer(conv);
        INDArray w = layer.getParam("W").castTo(DataType.DOUBLE);
        long nOut = w.size(0);
        return w.reshape('c', nOut, w.length() / nOut).dup().norm1(1).toDoubleVector();
    }

    private static BadInputException noConv(String tap, List<String> path, String why) {
        return new BadInputException("tap '" + tap + "': no convolution found to rank its channels by L1 norm (prune-l1): walking upstream "
                + String.join(" <- ", path) + ", " + why);
    }
}
