package io.distillery.loss;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.lossfunctions.LossUtil;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Negative control for {@link NormalizedL1Loss}: its score, but the gradient {@code weight · g / ‖p‖}
 * that forgets the normalisation's projection term {@code − u(p)·(u(p)ᵀg) / ‖p‖}, a plausible slip.
 * (Top-level so that surefire's {@code -Dtest} patterns do not take it for a test class.)
 */
record Unprojected(NormalizedL1Loss loss) implements ILossFunction {
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
        INDArray p = fn.getActivation(preOutput.dup(), true);
        INDArray norms = p.norm2(true, 1);
        INDArray g = Transforms.sign(p.divColumnVector(norms).subi(NormalizedL1Loss.unit(labels.castTo(p.dataType()))), false);
        if (mask != null) {
            LossUtil.applyMask(g, mask);
        }
        return fn.backprop(preOutput.dup(), g.diviColumnVector(norms).muli(loss.getWeight())).getFirst();
    }

    @Override
    public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation fn,
            INDArray mask, boolean average) {
        return new Pair<>(computeScore(labels, preOutput, fn, mask, average), computeGradient(labels, preOutput, fn, mask));
    }

    @Override
    public String name() {
        return "Unprojected(" + loss + ")";
    }
}
