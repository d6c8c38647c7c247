package io.distillery.layer;

import io.distillery.tensor.AttentionMaps;
import java.util.Arrays;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Runtime side of {@link AttentionMapLayer}. Forward: {@link AttentionMaps#normalized}. Backward,
 * with a = mean_c A² (per example, H·W values), ν = ‖a‖₂, n = max(ν, floor) and q = a / n:
 * <ul>
 *   <li>dL/da = (ε − q (q·ε)) / ν where ν &gt; floor, since dq/da = (I − q qᵀ)/ν is symmetric;
 *       where the floor is active n is a constant and dL/da = ε / floor;</li>
 *   <li>dL/dA[c, p] = dL/da[p] · 2 A[c, p] / C.</li>
 * </ul>
 * Workspaces are handled as in DL4J's own parameterless layers: the output is leveraged to
 * ACTIVATIONS, the input gradient is created in ACTIVATION_GRAD.
 */
public class AttentionMapLayerImpl extends AbstractLayer<AttentionMapLayer> {

    public AttentionMapLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        applyDropOutIfNecessary(training, workspaceMgr);
        checkRank(input);
        return workspaceMgr.leverageTo(ArrayType.ACTIVATIONS, AttentionMaps.normalized(input));
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        checkRank(input);
        long b = input.size(0), channels = input.size(1), h = input.size(2), w = input.size(3);

        // The forward pass's intermediates (AttentionMaps returns q only; ν is needed here).
        INDArray energy = input.mul(input).mean(1).reshape('c', b, h * w);
        INDArray norm = energy.norm2(true, 1);
        INDArray floored = Transforms.max(norm, AttentionMaps.NORM_FLOOR, true);
        INDArray q = energy.diviColumnVector(floored);

        INDArray eps = epsilon.reshape('c', b, h * w);
        // q·ε per example, zeroed where the floor is active (there q does not depend on ν)
        INDArray projection = q.mul(eps).sum(true, 1).muli(norm.gt(AttentionMaps.NORM_FLOOR).castTo(q.dataType()));
        INDArray dLda = eps.sub(q.mulColumnVector(projection)).diviColumnVector(floored);

        INDArray dLdInput = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(),
                input.shape(), 'c');
        Nd4j.getExecutioner().exec(new BroadcastMulOp(input, dLda.reshape('c', b, h, w), dLdInput, 0, 2, 3));
        dLdInput.muli(2.0 / channels);
        return new Pair<>(new DefaultGradient(), backpropDropOutIfPresent(dLdInput));
    }

    /**
     * A per-example mask passes through as N x 1 (the loss layer then weights whole examples); a
     * spatial mask has no meaning for a map that is normalised over all positions.
     */
    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArray(INDArray maskArray, MaskState currentMaskState,
            int minibatchSize) {
        if (maskArray != null && maskArray.length() != minibatchSize) {
            throw new UnsupportedOperationException("AttentionMapLayer " + layerId()
                    + ": only per-example masks are supported, got shape " + Arrays.toString(maskArray.shape()));
        }
        INDArray perExample = maskArray == null ? null : maskArray.reshape(minibatchSize, 1);
        return super.feedForwardMaskArray(perExample, currentMaskState, minibatchSize);
    }

    private void checkRank(INDArray array) {
        if (array.rank() != 4) {
            throw new IllegalStateException("AttentionMapLayer " + layerId() + ": needs [B, C, H, W] input, got "
                    + Arrays.toString(array.shape()));
        }
    }

    @Override
    public Type type() {
        return Type.SUBSAMPLING;
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
