package io.distillery.loss;

import java.util.Arrays;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Discriminator loss of an adversarial feature-map term (KDFM): binary cross-entropy on D's logits,
 * target 0 for the student's map (fake) and {@code realLabel} for the teacher's map (real; one-sided
 * label smoothing, default 0.9). D minimises it; the student, behind a
 * {@link io.distillery.layer.GradientReversal}, maximises it.
 *
 * <p>preOutput is [B, 2]: per example i, column 0 = D's logit for the student's map, column 1 = D's
 * logit for the teacher's map. D runs once over both batches stacked, [2B, ...] → [2B, 1] (student
 * rows first); {@link io.distillery.vertex.BatchStacking#halvesToColumns()} turns that into [B, 2].
 * This keeps every array of the loss layer at B rows, as DL4J's scoring and Spark's minibatch
 * splitting need. Labels: any [B, k] array (dummy, values ignored; only its row count is checked).
 * Activation: IDENTITY (others are backpropagated like any DL4J loss).
 *
 * <p>Per example: {@code weight · [BCE(σ(f), 0) + BCE(σ(r), realLabel)]} with BCE(σ(d), t) =
 * softplus(d) − t·d, computed stably; {@code computeScore(average)} divides the sum by B. Gradient wrt
 * the logits: {@code weight · (σ(d) − t)}. Masks: per example [B, 1] or per logit [B, 2].
 */
public final class AdversarialLoss implements ILossFunction {
    public static final double DEFAULT_WEIGHT = 1.0;
    public static final double DEFAULT_REAL_LABEL = 0.9;

    @JsonProperty("weight")
    private final double weight;
    @JsonProperty("realLabel")
    private final double realLabel;

    /** Weight 1, real label 0.9. */
    public AdversarialLoss() {
        this(DEFAULT_WEIGHT, DEFAULT_REAL_LABEL);
    }

    /**
     * @param weight    multiplies score and gradient; ≥ 0
     * @param realLabel target probability for the teacher's maps, in (0, 1]; 1 means no smoothing
     */
    @JsonCreator
    public AdversarialLoss(@JsonProperty("weight") double weight, @JsonProperty("realLabel") double realLabel) {
        if (!(weight >= 0) || Double.isInfinite(weight)) {
            throw new IllegalArgumentException("adversarial weight must be >= 0 and finite, got " + weight);
        }
        if (!(realLabel > 0 && realLabel <= 1)) {
            throw new IllegalArgumentException("real label must be in (0, 1], got " + realLabel);
        }
        this.weight = weight;
        this.realLabel = realLabel;
    }

    public double getWeight() {
        return weight;
    }

    public double getRealLabel() {
        return realLabel;
    }

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
        INDArray logits = activationFn.getActivation(preOutput.dup(), true);
        INDArray dLdLogits = masked(Transforms.sigmoid(logits, true).subiRowVector(targets(logits)), mask)
                .muli(weight);
        return activationFn.backprop(preOutput.dup(), dLdLogits).getFirst();
    }

    @Override
    public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation activationFn,
            INDArray mask, boolean average) {
        return new Pair<>(computeScore(labels, preOutput, activationFn, mask, average),
                computeGradient(labels, preOutput, activationFn, mask));
    }

    /**
     * Fraction of D's decisions that are right: a student logit below 0, a teacher logit above 0.
     * Accepts this loss's pairs [B, 2] (column 0 student, column 1 teacher) or D's stacked output
     * [2B, 1] (student rows first). KDFM's card suggests keeping it near 0.6–0.8.
     */
    public static double discriminatorAccuracy(INDArray logits) {
        boolean pairs = logits.rank() == 2 && logits.columns() == 2;
        boolean stacked = logits.rank() == 2 && logits.columns() == 1 && logits.rows() % 2 == 0;
        if (!(pairs || stacked) || logits.length() == 0) {
            throw new IllegalArgumentException("discriminator logits must be [B, 2] or [2B, 1], got "
                    + Arrays.toString(logits.shape()));
        }
        long n = logits.length() / 2;
        long correct = 0;
        for (long i = 0; i < n; i++) {
            double fake = logits.getDouble(i, 0);
            double real = pairs ? logits.getDouble(i, 1) : logits.getDouble(n + i, 0);
            correct += (fake < 0 ? 1 : 0) + (real > 0 ? 1 : 0);
        }
        return correct / (2.0 * n);
    }

    /** Per-logit score contributions [B, 2], masked and weighted; row sums are the per-example scores. */
    private INDArray terms(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        check(labels, preOutput, mask);
        INDArray logits = activationFn.getActivation(preOutput.dup(), true);
        // BCE(σ(d), t) = softplus(d) − t·d, with softplus(d) = max(d, 0) + log(1 + e^−|d|) (no overflow)
        INDArray softplus = Transforms.relu(logits, true)
                .addi(Transforms.log(Transforms.exp(Transforms.abs(logits, true).negi(), false).addi(1), false));
        INDArray bce = softplus.subi(logits.mulRowVector(targets(logits)));
        return masked(bce, mask).muli(weight);
    }

    /** Row vector (0, realLabel): the targets of the student and teacher columns. */
    private INDArray targets(INDArray logits) {
        return Nd4j.createFromArray(0.0, realLabel).castTo(logits.dataType()).reshape(1, 2);
    }

    private static INDArray masked(INDArray array, INDArray mask) {
        if (mask == null) {
            return array;
        }
        INDArray m = mask.castTo(array.dataType());
        return m.columns() == 1 ? array.muliColumnVector(m) : array.muli(m);
    }

    private static void check(INDArray labels, INDArray preOutput, INDArray mask) {
        if (preOutput.rank() != 2 || preOutput.columns() != 2) {
            throw new IllegalArgumentException("AdversarialLoss: preOutput must be [B, 2] (student logit, teacher"
                    + " logit), got " + Arrays.toString(preOutput.shape())
                    + "; turn D's stacked [2B, 1] output into pairs with BatchStacking.halvesToColumns()");
        }
        if (labels == null || labels.rank() < 1 || labels.size(0) != preOutput.size(0)) {
            throw new IllegalArgumentException("AdversarialLoss: labels must have B = " + preOutput.size(0)
                    + " rows (any values), got " + (labels == null ? "null" : Arrays.toString(labels.shape())));
        }
        if (mask != null && !(mask.rank() == 2 && mask.rows() == preOutput.rows()
                && (mask.columns() == 1 || mask.columns() == 2))) {
            throw new IllegalArgumentException("AdversarialLoss: mask must be [B, 1] or [B, 2], got "
                    + Arrays.toString(mask.shape()));
        }
    }

    @Override
    public String name() {
        return toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AdversarialLoss other && Double.compare(weight, other.weight) == 0
                && Double.compare(realLabel, other.realLabel) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * Double.hashCode(weight) + Double.hashCode(realLabel);
    }

    @Override
    public String toString() {
        return "AdversarialLoss(weight=" + weight + ", realLabel=" + realLabel + ")";
    }
}
