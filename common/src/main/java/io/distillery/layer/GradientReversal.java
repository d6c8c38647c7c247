package io.distillery.layer;

import java.util.Collection;
import java.util.Map;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.NoParamLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Gradient-reversal layer (Ganin &amp; Lempitsky, DANN, 2015): identity forward, {@code −λ·ε}
 * backward, no parameters. Placed between a generator (the student's feature map) and a
 * discriminator, it turns the min-max game into one minimisation of one graph, which is what Spark
 * parameter averaging trains: the discriminator descends its loss, everything upstream of this layer
 * ascends it, scaled by λ.
 *
 * <p>Because of the reversal the graph's gradient is not the gradient of its score for parameters
 * upstream of this layer (it is −λ times it), so a plain numerical gradient check fails unless
 * λ = −1. Works for any input type (feed-forward, convolutional, recurrent); output type = input type.
 *
 * <p>λ is read at every backward pass, so a trainer can ramp it per epoch: {@link #setLambda(ComputationGraph,
 * String, double)} updates a live graph and its configuration (which Spark broadcasts as JSON).
 * Dropout is never applied by this layer.
 */
public class GradientReversal extends NoParamLayer {
    public static final double DEFAULT_LAMBDA = 1.0;

    @JsonProperty("lambda")
    private double lambda;

    /** λ = 1. */
    public GradientReversal() {
        this(DEFAULT_LAMBDA);
    }

    /** @param lambda the reversal factor; any finite value (0 blocks the gradient, −1 makes it the identity). */
    public GradientReversal(double lambda) {
        setLambda(lambda);
    }

    protected GradientReversal(Builder builder) {
        super(builder);
        setLambda(builder.lambda);
    }

    public double getLambda() {
        return lambda;
    }

    public void setLambda(double lambda) {
        if (!Double.isFinite(lambda)) {
            throw new IllegalArgumentException("gradient reversal lambda must be finite, got " + lambda);
        }
        this.lambda = lambda;
    }

    /**
     * Sets λ of the gradient-reversal layer {@code layerName} both in the live graph (used by the next
     * backward pass) and in the graph's configuration (what {@code toJson()} and Spark broadcast), in
     * case the two hold different configuration objects.
     *
     * @throws IllegalArgumentException if the graph has no such layer or it is not a {@code GradientReversal}
     */
    public static void setLambda(ComputationGraph graph, String layerName, double lambda) {
        org.deeplearning4j.nn.graph.vertex.GraphVertex live = graph.getVertex(layerName);
        if (live == null || !live.hasLayer() || !(live.getLayer().conf().getLayer() instanceof GradientReversal liveConf)) {
            throw new IllegalArgumentException("no GradientReversal layer named \"" + layerName + "\" in the graph");
        }
        liveConf.setLambda(lambda);
        GraphVertex vertex = graph.getConfiguration().getVertices().get(layerName);
        if (vertex instanceof LayerVertex layerVertex
                && layerVertex.getLayerConf().getLayer() instanceof GradientReversal confLayer) {
            confLayer.setLambda(lambda);
        }
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> trainingListeners,
            int layerIndex, INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
        GradientReversalImpl layer = new GradientReversalImpl(conf, networkDataType);
        layer.setListeners(trainingListeners);
        layer.setIndex(layerIndex);
        layer.setParamsViewArray(layerParamsView);
        Map<String, INDArray> paramTable = initializer().init(conf, layerParamsView, initializeParams);
        layer.setParamTable(paramTable);
        layer.setConf(conf);
        return layer;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        if (inputType == null) {
            throw new IllegalStateException("GradientReversal \"" + getLayerName() + "\": no input type");
        }
        return inputType;
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        return null;
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        long perExample = inputType.arrayElementsPerExample();
        return new LayerMemoryReport.Builder(layerName, GradientReversal.class, inputType, inputType)
                .standardMemory(0, 0) // no parameters
                .workingMemory(0, 0, 0, perExample) // backward: the scaled copy of epsilon
                .cacheMemory(MemoryReport.CACHE_MODE_ALL_ZEROS, MemoryReport.CACHE_MODE_ALL_ZEROS)
                .build();
    }

    @Override
    public GradientReversal clone() {
        return (GradientReversal) super.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GradientReversal other && other.canEqual(this) && super.equals(o)
                && Double.compare(lambda, other.lambda) == 0;
    }

    @Override
    protected boolean canEqual(Object other) {
        return other instanceof GradientReversal;
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Double.hashCode(lambda);
    }

    @Override
    public String toString() {
        return "GradientReversal(name=" + getLayerName() + ", lambda=" + lambda + ")";
    }

    /** DL4J's builder idiom: {@code new GradientReversal.Builder().lambda(0.1).name("grl").build()}. */
    public static class Builder extends org.deeplearning4j.nn.conf.layers.Layer.Builder<Builder> {
        private double lambda = DEFAULT_LAMBDA;

        public Builder lambda(double lambda) {
            this.lambda = lambda;
            return this;
        }

        @Override
        @SuppressWarnings("unchecked")
        public GradientReversal build() {
            return new GradientReversal(this);
        }
    }
}
