package io.distillery.loss;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Hinton et al.'s knowledge distillation: KL divergence from the teacher's softened distribution to
 * the student's, at temperature T and scaled by T² so that its gradients keep their size as T
 * changes. Labels are the teacher's raw logits (N x K); the layer's activation should be IDENTITY,
 * so that the student's logits arrive here (any other activation is applied and backpropagated).
 *
 * <p>Per example: {@code weight * T² * Σ_k p_t,k (log p_t,k − log p_s,k)} with
 * {@code p = softmax(logits / T)}; gradient {@code weight * T * (p_s − p_t)}.
 *
 * <p>A per-example mask (N x 1) weights each example. A per-output mask (N x K) says which classes
 * take part, as for teacher logits stored top-k: both softmaxes are taken over the classes whose
 * mask is positive, the terms are weighted by the mask, and whatever the labels hold at the other
 * classes has no effect (their gradient is zero).
 */
public final class KnowledgeDistillationLoss extends TeacherTargetLoss {
    public static final double DEFAULT_TEMPERATURE = 4.0;
    public static final double DEFAULT_WEIGHT = 1.0;

    /**
     * Logit/T given to classes outside a per-output mask: exp underflows to exactly 0 against any
     * sane logit in every float type, and the value stays finite even in float16.
     */
    private static final double EXCLUDED_LOGIT = -1e4;

    @JsonProperty("temperature")
    private final double temperature;
    @JsonProperty("weight")
    private final double weight;

    /** Temperature 4, weight 1. */
    public KnowledgeDistillationLoss() {
        this(DEFAULT_TEMPERATURE, DEFAULT_WEIGHT);
    }

    @JsonCreator
    public KnowledgeDistillationLoss(@JsonProperty("temperature") double temperature,
            @JsonProperty("weight") double weight) {
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("KD temperature must be positive and finite, got " + temperature);
        }
        if (!(weight >= 0) || Double.isInfinite(weight)) {
            throw new IllegalArgumentException("KD weight must be >= 0 and finite, got " + weight);
        }
        this.temperature = temperature;
        this.weight = weight;
    }

    public double getTemperature() {
        return temperature;
    }

    public double getWeight() {
        return weight;
    }

    @Override
    protected INDArray scoreTerms(INDArray teacher, INDArray student, INDArray mask) {
        INDArray logPt = logSoftmax(teacher, mask);
        INDArray logPs = logSoftmax(student, mask);
        INDArray pt = Transforms.exp(logPt, true);
        INDArray terms = pt.muli(logPt.subi(logPs));
        return masked(terms, mask).muli(weight * temperature * temperature);
    }

    @Override
    protected INDArray studentGradient(INDArray teacher, INDArray student, INDArray mask) {
        // d/ds_j of Σ_k m_k p_t,k (log p_t,k − log p_s,k) = (p_s,j Σ_k m_k p_t,k − m_j p_t,j) / T;
        // unmasked (or where a 0/1 mask keeps the example) Σ_k m_k p_t,k = 1: the familiar p_s − p_t.
        INDArray weightedPt = masked(Transforms.exp(logSoftmax(teacher, mask), false), mask);
        INDArray ps = Transforms.exp(logSoftmax(student, mask), false);
        return ps.muliColumnVector(weightedPt.sum(true, 1)).subi(weightedPt).muli(weight * temperature);
    }

    /** Row-wise log softmax of logits / T (row max subtracted first), restricted to a per-output mask. */
    private INDArray logSoftmax(INDArray logits, INDArray mask) {
        INDArray z = logits.div(temperature);
        if (isPerOutput(logits, mask)) {
            INDArray keep = mask.gt(0).castTo(z.dataType());
            z.muli(keep).addi(keep.rsub(1).muli(EXCLUDED_LOGIT));
        }
        z.subiColumnVector(z.max(true, 1));
        return z.subiColumnVector(Transforms.log(Transforms.exp(z, true).sum(true, 1), false));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof KnowledgeDistillationLoss other
                && Double.compare(temperature, other.temperature) == 0 && Double.compare(weight, other.weight) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * Double.hashCode(temperature) + Double.hashCode(weight);
    }

    @Override
    public String toString() {
        return "KnowledgeDistillationLoss(temperature=" + temperature + ", weight=" + weight + ")";
    }
}
