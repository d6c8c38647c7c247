package io.distillery.layer;

import io.distillery.tensor.AttentionMaps;
import java.util.Collection;
import java.util.Map;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.NoParamLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Spatial attention map of a convolutional activation, the student side of Attention Transfer
 * (Zagoruyko &amp; Komodakis, "Paying More Attention to Attention", ICLR 2017): input
 * [B, C, H, W] (NCHW), output [B, H·W] = {@link AttentionMaps#normalized}, i.e. per example the
 * channel mean of the squared activations divided by its L2 norm. No parameters.
 *
 * <p>Put a {@code LossLayer} with IDENTITY activation after it: {@code HintLoss(β)} against the
 * teacher's stored map gives AT's loss, {@code RtkLoss} gives the RTK reconstruction.
 */
public class AttentionMapLayer extends NoParamLayer {

    public AttentionMapLayer() {
        this(new Builder());
    }

    protected AttentionMapLayer(Builder builder) {
        super(builder);
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> trainingListeners,
            int layerIndex, INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
        AttentionMapLayerImpl layer = newImpl(conf, networkDataType);
        layer.setListeners(trainingListeners);
        layer.setIndex(layerIndex);
        layer.setParamsViewArray(layerParamsView);
        Map<String, INDArray> paramTable = initializer().init(conf, layerParamsView, initializeParams);
        layer.setParamTable(paramTable);
        layer.setConf(conf);
        return layer;
    }

    /** The runtime layer; a seam for tests that need a deliberately wrong backward pass. */
    AttentionMapLayerImpl newImpl(NeuralNetConfiguration conf, DataType networkDataType) {
        return new AttentionMapLayerImpl(conf, networkDataType);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        InputType.InputTypeConvolutional in = convolutional(inputType);
        return InputType.feedForward(in.getHeight() * in.getWidth());
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        if (inputType instanceof InputType.InputTypeConvolutionalFlat flat) {
            return new FeedForwardToCnnPreProcessor(flat.getHeight(), flat.getWidth(), flat.getDepth());
        }
        return null;
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        InputType.InputTypeConvolutional in = convolutional(inputType);
        long inputPerExample = in.arrayElementsPerExample();
        long mapPerExample = in.getHeight() * in.getWidth();
        return new LayerMemoryReport.Builder(layerName, AttentionMapLayer.class, inputType,
                getOutputType(-1, inputType))
                .standardMemory(0, 0) // no parameters
                // forward: the squared input, then the map; backward adds the map gradient
                .workingMemory(0, inputPerExample + mapPerExample, 0, inputPerExample + 2 * mapPerExample)
                .cacheMemory(MemoryReport.CACHE_MODE_ALL_ZEROS, MemoryReport.CACHE_MODE_ALL_ZEROS)
                .build();
    }

    private InputType.InputTypeConvolutional convolutional(InputType inputType) {
        if (!(inputType instanceof InputType.InputTypeConvolutional in)) {
            throw new IllegalStateException("AttentionMapLayer \"" + getLayerName()
                    + "\" needs convolutional input [B, C, H, W], got " + inputType);
        }
        if (in.getFormat() != CNN2DFormat.NCHW) {
            throw new IllegalStateException("AttentionMapLayer \"" + getLayerName()
                    + "\" supports NCHW activations only, got " + in.getFormat());
        }
        return in;
    }

    @Override
    public boolean equals(Object o) {
        return o != null && o.getClass() == getClass() && super.equals(o);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + getClass().getName().hashCode();
    }

    @Override
    public String toString() {
        return "AttentionMapLayer(name=" + getLayerName() + ")";
    }

    /** For DL4J's builder idiom: {@code new AttentionMapLayer.Builder().name("at1").build()}. */
    public static class Builder extends org.deeplearning4j.nn.conf.layers.Layer.Builder<Builder> {
        @Override
        @SuppressWarnings("unchecked")
        public AttentionMapLayer build() {
            return new AttentionMapLayer(this);
        }
    }
}
