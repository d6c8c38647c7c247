package io.distillery.loss;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/**
 * Negative control for gradient checks: {@code loss} with its gradient multiplied by {@code factor},
 * a classic slip. (Top-level rather than nested in a test, so that surefire's {@code -Dtest=...*}
 * patterns do not take it for a test class.)
 */
record GradientScaledLoss(ILossFunction loss, double factor) implements ILossFunction {
    @Override
    public double computeScore(INDArray labels, INDArray preOutput, IActivation fn, INDArray mask, boolean average) {
        return loss.computeScore(labels, preOutput, fn, mask, average);
    }

    @Override
    public INDArray computeScoreArray(INDArray labels, INDArray preOutput, IActivation fn, INDArray mask) {
        return loss.computeScoreArray(labels, preOutput, fn, mask);
    }

    @Override
    public INDArray computeGradient(INDArray labels, INDArray preOutput, IActivation fn, INDArray mask) {
        return loss.computeGradient(labels, preOutput, fn, mask).muli(factor);
    }

    @Override
    public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation fn,
            INDArray mask, boolean average) {
        return new Pair<>(computeScore(labels, preOutput, fn, mask, average), computeGradient(labels, preOutput, fn, mask));
    }

    @Override
    public String name() {
        return "GradientScaledLoss(" + loss + ", " + factor + ")";
    }
}
