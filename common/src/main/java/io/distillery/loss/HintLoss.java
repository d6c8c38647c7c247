package io.distillery.loss;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * FitNets hint: the student's connector output regresses the teacher's intermediate feature map
 * ("tap"). Labels are the teacher tap flattened to N x D, preOutput the connector output flattened
 * the same way (for example by a {@code CnnToFeedForwardPreProcessor}); the activation should be
 * IDENTITY.
 *
 * <p>Per example: {@code weight * (1/D) Σ_d (s_d − t_d)²}; gradient {@code weight * 2 (s − t) / D}.
 * Like DL4J's {@code LossMSE}, D stays the full row length under a per-output mask, which weights
 * each element's squared error; a per-example mask weights whole examples.
 */
public final class HintLoss extends TeacherTargetLoss {
    public static final double DEFAULT_WEIGHT = 1.0;

    @JsonProperty("weight")
    private final double weight;

    /** Weight 1. */
    public HintLoss() {
        this(DEFAULT_WEIGHT);
    }

    @JsonCreator
    public HintLoss(@JsonProperty("weight") double weight) {
        if (!(weight >= 0) || Double.isInfinite(weight)) {
            throw new IllegalArgumentException("hint weight must be >= 0 and finite, got " + weight);
        }
        this.weight = weight;
    }

    public double getWeight() {
        return weight;
    }

    @Override
    protected INDArray scoreTerms(INDArray teacher, INDArray student, INDArray mask) {
        INDArray diff = student.sub(teacher);
        return masked(diff.mul(diff), mask).muli(weight / teacher.size(1));
    }

    @Override
    protected INDArray studentGradient(INDArray teacher, INDArray student, INDArray mask) {
        return masked(student.sub(teacher), mask).muli(2 * weight / teacher.size(1));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HintLoss other && Double.compare(weight, other.weight) == 0;
    }

    @Override
    public int hashCode() {
        return Double.hashCode(weight);
    }

    @Override
    public String toString() {
        return "HintLoss(weight=" + weight + ")";
    }
}
