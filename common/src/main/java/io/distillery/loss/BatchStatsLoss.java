package io.distillery.loss;

import java.util.Arrays;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Batch-statistics loss of data-free distillation (DAFL / DeepInversion / CDFKD-MFS): the input of a
 * frozen teacher's batch-norm layer, on generated images, should have the statistics the layer saw on
 * real data. With μ_B, σ²_B the batch mean and biased variance of each channel over (batch, H, W),
 * and μ, σ² the layer's running statistics (constants given here):
 * <pre>  L = weight · (‖μ_B − μ‖₂ + ‖σ²_B − σ²‖₂)</pre>
 *
 * <p>preOutput: the BN layer's input [B, C, H, W] flattened channel-major to [B, C·H·W] (a
 * {@code CnnToFeedForwardPreProcessor}; [B, C] for a feed-forward BN, H = W = 1). Labels: any array
 * with B rows (values ignored; {@code LabelSource.Zeros(1)}). Activation: IDENTITY.
 *
 * <p>L is a property of the whole batch, not of examples. DL4J reports {@code computeScore(average)}
 * as the per-example sum divided by B and divides gradients (of the per-example sum) by B. So every
 * example's score is L (the network's averaged score shows L itself) and {@link #computeGradient}
 * returns B·∂L/∂x, the gradient of that sum: after DL4J's division the update follows ∂L/∂x, as in
 * the paper, whatever the batch size. Masks are not supported (they would change the statistics).
 */
public final class BatchStatsLoss implements ILossFunction {
    /** Below this a norm counts as zero and its term contributes no gradient (the norm is not differentiable there). */
    private static final double TINY = 1e-12;

    @JsonProperty("weight")
    private final double weight;
    @JsonProperty("mean")
    private final double[] mean;
    @JsonProperty("variance")
    private final double[] variance;

    /**
     * @param weight   ≥ 0
     * @param mean     running mean per channel
     * @param variance running variance per channel (same length, ≥ 0)
     */
    @JsonCreator
    public BatchStatsLoss(@JsonProperty("weight") double weight, @JsonProperty("mean") double[] mean,
            @JsonProperty("variance") double[] variance) {
        if (!(weight >= 0) || Double.isInfinite(weight)) {
            throw new IllegalArgumentException("batch-statistics weight must be >= 0 and finite, got " + weight);
        }
        if (mean == null || variance == null || mean.length == 0 || mean.length != variance.length) {
            throw new IllegalArgumentException("batch-statistics mean and variance must be non-empty and of one length, got "
                    + (mean == null ? null : mean.length) + " and " + (variance == null ? null : variance.length));
        }
        this.weight = weight;
        this.mean = mean.clone();
        this.variance = variance.clone();
    }

    public double getWeight() {
        return weight;
    }

    public int channels() {
        return mean.length;
    }

    /** The same statistics with another weight. */
    public BatchStatsLoss withWeight(double newWeight) {
        return new BatchStatsLoss(newWeight, mean, variance);
    }

    /** L for a batch given as [B, C·H·W] (channel-major). */
    public double batchLoss(INDArray preOutput, IActivation activationFn) {
        Stats s = stats(activationFn.getActivation(preOutput.dup(), true));
        return weight * (s.meanDiff.norm2Number().doubleValue() + s.varDiff.norm2Number().doubleValue());
    }

    @Override
    public double computeScore(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask, boolean average) {
        check(labels, preOutput, mask);
        double l = batchLoss(preOutput, activationFn);
        return average ? l : l * preOutput.size(0);
    }

    @Override
    public INDArray computeScoreArray(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        check(labels, preOutput, mask);
        return Nd4j.zeros(preOutput.dataType(), preOutput.size(0), 1).addi(batchLoss(preOutput, activationFn));
    }

    /** B·∂L/∂x: the gradient of the per-example sum B·L (see the class comment). */
    @Override
    public INDArray computeGradient(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        check(labels, preOutput, mask);
        INDArray x = activationFn.getActivation(preOutput.dup(), true);
        Stats s = stats(x);
        long b = x.size(0);
        long hw = s.spatial;
        double meanNorm = s.meanDiff.norm2Number().doubleValue();
        double varNorm = s.varDiff.norm2Number().doubleValue();
        // ∂‖μ_B − μ‖/∂x[b,c,p] = (μ_B − μ)_c / ‖·‖ / (B·HW); ∂‖σ²_B − σ²‖/∂x[b,c,p] = (σ²_B − σ²)_c / ‖·‖ · 2(x − μ_B,c) / (B·HW).
        // Times B (the per-example sum): the 1/B cancels.
        INDArray meanCoef = meanNorm > TINY ? s.meanDiff.div(meanNorm * hw) : Nd4j.zeros(x.dataType(), s.meanDiff.length());
        INDArray varCoef = varNorm > TINY ? s.varDiff.mul(2.0 / (varNorm * hw)) : Nd4j.zeros(x.dataType(), s.varDiff.length());
        INDArray grad = s.centred.muli(varCoef.reshape(1, mean.length, 1)).addi(meanCoef.reshape(1, mean.length, 1))
                .muli(weight).reshape('c', b, (long) mean.length * hw);
        return activationFn.backprop(preOutput.dup(), grad).getFirst();
    }

    @Override
    public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation activationFn,
            INDArray mask, boolean average) {
        return new Pair<>(computeScore(labels, preOutput, activationFn, mask, average),
                computeGradient(labels, preOutput, activationFn, mask));
    }

    /** centred: x − μ_B as [B, C, HW]. */
    private record Stats(INDArray centred, INDArray meanDiff, INDArray varDiff, long spatial) {
    }

    /**
     * Reduces over HW (contiguous) first, then over B: ND4J's reduction over dimensions (0, 2) at once
     * walks a tensor-along-dimension per channel and cost several times more in the data-free step.
     */
    private Stats stats(INDArray x) {
        long b = x.size(0);
        long hw = x.size(1) / mean.length;
        INDArray x3 = x.reshape('c', b, mean.length, hw);
        INDArray batchMean = x3.sum(2).sum(0).divi((double) b * hw);
        INDArray centred = x3.sub(batchMean.reshape(1, mean.length, 1));
        INDArray batchVar = centred.mul(centred).sum(2).sum(0).divi((double) b * hw);
        INDArray runningMean = Nd4j.createFromArray(mean).castTo(x.dataType());
        INDArray runningVar = Nd4j.createFromArray(variance).castTo(x.dataType());
        return new Stats(centred, batchMean.sub(runningMean), batchVar.sub(runningVar), hw);
    }

    private void check(INDArray labels, INDArray preOutput, INDArray mask) {
        if (preOutput.rank() != 2 || preOutput.size(1) % mean.length != 0) {
            throw new IllegalArgumentException("BatchStatsLoss: preOutput must be [B, C*H*W] with C = " + mean.length
                    + " (flatten the BN input with a CnnToFeedForwardPreProcessor), got " + Arrays.toString(preOutput.shape()));
        }
        if (labels == null || labels.size(0) != preOutput.size(0)) {
            throw new IllegalArgumentException("BatchStatsLoss: labels must have B = " + preOutput.size(0) + " rows (any values), got "
                    + (labels == null ? "null" : Arrays.toString(labels.shape())));
        }
        if (mask != null) {
            throw new IllegalArgumentException("BatchStatsLoss: masks are not supported (the loss is over the whole batch)");
        }
    }

    @Override
    public String name() {
        return "BatchStatsLoss(weight=" + weight + ", channels=" + mean.length + ")";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BatchStatsLoss other && Double.compare(weight, other.weight) == 0
                && Arrays.equals(mean, other.mean) && Arrays.equals(variance, other.variance);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Double.hashCode(weight) + Arrays.hashCode(mean)) + Arrays.hashCode(variance);
    }

    @Override
    public String toString() {
        return name();
    }
}
