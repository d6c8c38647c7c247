package io.distillery.loss;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Any loss times a factor: score and gradient both scaled. This is how a head's weight changes from
 * epoch to epoch (curricula, ramps): the trainer swaps the factor into the head's configuration,
 * which reaches the Spark workers with the parameters of every averaging round.
 */
public final class ScaledLoss implements ILossFunction {
    @JsonProperty("loss")
    private final ILossFunction loss;
    @JsonProperty("factor")
    private final double factor;

    @JsonCreator
    public ScaledLoss(@JsonProperty("loss") ILossFunction loss, @JsonProperty("factor") double factor) {
        if (loss instanceof ScaledLoss) {
            throw new IllegalArgumentException("ScaledLoss of a ScaledLoss: unwrap it first");
        }
        if (!(factor >= 0) || Double.isInfinite(factor)) {
            throw new IllegalArgumentException("loss factor must be >= 0 and finite, got " + factor);
        }
        this.loss = loss;
        this.factor = factor;
    }

    /** {@code loss} itself when it is not scaled, else the loss inside. */
    public static ILossFunction unwrap(ILossFunction loss) {
        return loss instanceof ScaledLoss s ? s.loss : loss;
    }

    public ILossFunction getLoss() {
        return loss;
    }

    public double getFactor() {
        return factor;
    }

    @Override
    public double computeScore(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask, boolean average) {
        return factor * loss.computeScore(labels, preOutput, activationFn, mask, average);
    }

    @Override
    public INDArray computeScoreArray(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        return loss.computeScoreArray(labels, preOutput, activationFn, mask).muli(factor);
    }

    @Override
    public INDArray computeGradient(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        return loss.computeGradient(labels, preOutput, activationFn, mask).muli(factor);
    }

    @Override
    public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask,
                                                          boolean average) {
        return new Pair<>(computeScore(labels, preOutput, activationFn, mask, average),
                computeGradient(labels, preOutput, activationFn, mask));
    }

    @Override
    public String name() {
        return toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ScaledLoss other && loss.equals(other.loss) && Double.compare(factor, other.factor) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * loss.hashCode() + Double.hashCode(factor);
    }

    @Override
    public String toString() {
        return "ScaledLoss(" + loss + " x " + factor + ")";
    }
}
