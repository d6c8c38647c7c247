package io.distillery.layer;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Runtime side of {@link GradientReversal}: forward copies the input, backward returns
 * {@code −λ·ε} with λ read from the configuration at each call.
 *
 * <p>Workspaces: the output is a copy in ACTIVATIONS, not the input itself, because DL4J lets some
 * layers modify their input in place and the student's map usually feeds other branches too; the
 * input gradient is a new array in ACTIVATION_GRAD (epsilon is never modified).
 */
public class GradientReversalImpl extends AbstractLayer<GradientReversal> {

    public GradientReversalImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        return workspaceMgr.dup(ArrayType.ACTIVATIONS, input, input.ordering());
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        INDArray reversed = workspaceMgr.dup(ArrayType.ACTIVATION_GRAD, epsilon, epsilon.ordering())
                .muli(-layerConf().getLambda());
        return new Pair<>(new DefaultGradient(), reversed);
    }

    @Override
    public Type type() {
        return Type.FEED_FORWARD;
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public void clearNoiseWeightParams() {
        // no parameters
    }

    @Override
    public INDArray params() {
        return null;
    }
}
