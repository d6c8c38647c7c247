package io.distillery.loss;

import java.util.Arrays;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.lossfunctions.LossUtil;

/**
 * Shared plumbing of losses whose labels are stored teacher outputs, following DL4J's conventions
 * for {@link ILossFunction}: the score array is per example (N x 1), {@code computeScore} sums it and
 * divides by N when averaging, and the gradient is per example (not divided by N) with respect to
 * the pre-activation output. Subclasses give the loss in terms of the activated student output.
 *
 * <p>Masks are DL4J's two kinds: per example (N x 1, multiplies each example's score) or per output
 * (N x K, same shape as the labels). Subclasses must return the exact gradient of their masked score.
 */
public abstract class TeacherTargetLoss implements ILossFunction {

    /** Per-element score contributions (N x K) whose row sums are the per-example scores. */
    protected abstract INDArray scoreTerms(INDArray teacher, INDArray student, INDArray mask);

    /** Gradient of the per-example scores with respect to the activated student output (N x K). */
    protected abstract INDArray studentGradient(INDArray teacher, INDArray student, INDArray mask);

    @Override
    public double computeScore(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask,
            boolean average) {
        INDArray terms = terms(labels, preOutput, activationFn, mask);
        double score = terms.sumNumber().doubleValue();
        return average ? score / terms.size(0) : score;
    }

    @Override
    public INDArray computeScoreArray(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        return terms(labels, preOutput, activationFn, mask).sum(true, 1);
    }

    @Override
    public INDArray computeGradient(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        check(labels, preOutput, mask);
        INDArray student = activationFn.getActivation(preOutput.dup(), true);
        INDArray dLdStudent = studentGradient(labels.castTo(preOutput.dataType()), student, mask);
        // The mask is already in dL/dStudent; masking again after a non-elementwise activation
        // (as some DL4J losses do) would no longer be the gradient of the score.
        return activationFn.backprop(preOutput.dup(), dLdStudent).getFirst();
    }

    @Override
    public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation activationFn,
            INDArray mask, boolean average) {
        return new Pair<>(computeScore(labels, preOutput, activationFn, mask, average),
                computeGradient(labels, preOutput, activationFn, mask));
    }

    @Override
    public String name() {
        return toString();
    }

    /** Applies a per-example or per-output mask in place (no-op when null) and returns the array. */
    protected static INDArray masked(INDArray array, INDArray mask) {
        if (mask != null) {
            LossUtil.applyMask(array, mask);
        }
        return array;
    }

    /** Whether {@code mask} selects outputs (N x K) rather than whole examples (N x 1). */
    protected static boolean isPerOutput(INDArray labels, INDArray mask) {
        return mask != null && LossUtil.isPerOutputMasking(labels, mask);
    }

    private INDArray terms(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        check(labels, preOutput, mask);
        INDArray student = activationFn.getActivation(preOutput.dup(), true);
        return scoreTerms(labels.castTo(preOutput.dataType()), student, mask);
    }

    private void check(INDArray labels, INDArray preOutput, INDArray mask) {
        if (!labels.equalShapes(preOutput) || labels.rank() != 2) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": labels (teacher) and preOutput (student)"
                    + " must both be N x K, got " + Arrays.toString(labels.shape()) + " and "
                    + Arrays.toString(preOutput.shape()));
        }
        boolean perExample = mask != null && mask.isColumnVectorOrScalar() && mask.length() == labels.size(0);
        if (mask != null && !perExample && !labels.equalShapes(mask)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": mask must be N x 1 or "
                    + Arrays.toString(labels.shape()) + ", got " + Arrays.toString(mask.shape()));
        }
    }
}
