package io.distillery.layer;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Negative controls for the gradient checks: attention-map layers with a deliberately wrong backward
 * pass. (Top-level rather than nested in the test, so that surefire's {@code -Dtest=AttentionMap*}
 * does not take them for test classes.)
 */
final class WrongBackprop {
    private WrongBackprop() {
    }

    /** The right gradient times {@code factor}. */
    static AttentionMapLayer scaled(double factor) {
        return new Scaled(factor);
    }

    /** The classic slip of treating ‖a‖ as a constant: dL/da = ε/‖a‖, without the −q qᵀ projection. */
    static AttentionMapLayer withoutProjection() {
        return new WithoutProjection();
    }

    private static final class Scaled extends AttentionMapLayer {
        private final double factor;

        Scaled(double factor) {
            this.factor = factor;
        }

        @Override
        AttentionMapLayerImpl newImpl(NeuralNetConfiguration conf, DataType dataType) {
            return new AttentionMapLayerImpl(conf, dataType) {
                @Override
                public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
                    Pair<Gradient, INDArray> right = super.backpropGradient(epsilon, workspaceMgr);
                    return new Pair<>(right.getFirst(), right.getSecond().muli(factor));
                }
            };
        }
    }

    private static final class WithoutProjection extends AttentionMapLayer {
        @Override
        AttentionMapLayerImpl newImpl(NeuralNetConfiguration conf, DataType dataType) {
            return new AttentionMapLayerImpl(conf, dataType) {
                @Override
                public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
                    long b = input.size(0), h = input.size(2), w = input.size(3);
                    INDArray energy = input.mul(input).mean(1).reshape('c', b, h * w);
                    INDArray dLda = epsilon.divColumnVector(energy.norm2(true, 1));
                    INDArray dLdInput = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(),
                            input.shape(), 'c');
                    Nd4j.getExecutioner().exec(new BroadcastMulOp(input, dLda.reshape('c', b, h, w), dLdInput, 0, 2, 3));
                    return new Pair<>(new DefaultGradient(), dLdInput.muli(2.0 / input.size(1)));
                }
            };
        }
    }
}
