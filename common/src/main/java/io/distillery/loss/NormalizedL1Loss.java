package io.distillery.loss;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * FEED's feature loss (Park &amp; Kwak, ECAI 2020; Factor Transfer's loss, Kim et al. 2018): the L1
 * distance between the student's translated feature map and the teacher's map, each first scaled
 * to unit L2 norm per example, so that only the map's direction counts and teachers whose
 * activations differ in scale weigh alike. Labels are the teacher map flattened to N x D (C, H, W
 * order, as stored); preOutput the translator's output flattened the same way (by a
 * {@code CnnToFeedForwardPreProcessor}, not a {@code CnnLossLayer}, which would normalise per
 * pixel); the activation should be IDENTITY (another one is applied and backpropagated).
 *
 * <p>Per example, with u(x) = x / ‖x‖₂ over all D values of the row:
 * {@code score = weight · Σ_d |u(p)_d − u(y)_d|}, the paper's ‖·‖₁ (a <b>sum</b> over D, not
 * Factor Transfer code's mean); gradient {@code weight · (g − u(p)·(u(p)ᵀg)) / ‖p‖} with
 * g = sign(u(p) − u(y)). DL4J then averages the per-example scores over the batch. So
 * {@code weight} is the paper's β; Factor Transfer's code (mean over B·D, β = 500 on CIFAR) is
 * {@code weight = 500 / D} here (≈ 0.12 for a 64×8×8 map).
 *
 * <p>A row of norm at most {@value #NORM_FLOOR} is divided by that floor instead, as PyTorch's
 * {@code F.normalize} (which Factor Transfer's code uses) does: an all-zero map (a dead ReLU stage,
 * say) gives a finite score and gradient (u is then not a unit vector, and the gradient is the
 * exact g/floor of that score). Masks: per example (N x 1) weights whole examples; per output
 * (N x D) weights each |difference| (the normalisation still uses the whole row), and the gradient
 * is the exact one of that masked score.
 */
public final class NormalizedL1Loss extends TeacherTargetLoss {
    public static final double DEFAULT_WEIGHT = 1.0;
    /** Rows whose L2 norm is at most this are divided by it instead of their norm. */
    public static final double NORM_FLOOR = 1e-12;

    @JsonProperty("weight")
    private final double weight;

    /** Weight 1. */
    public NormalizedL1Loss() {
        this(DEFAULT_WEIGHT);
    }

    @JsonCreator
    public NormalizedL1Loss(@JsonProperty("weight") double weight) {
        if (!(weight >= 0) || Double.isInfinite(weight)) {
            throw new IllegalArgumentException("normalised L1 weight must be >= 0 and finite, got " + weight);
        }
        this.weight = weight;
    }

    public double getWeight() {
        return weight;
    }

    @Override
    protected INDArray scoreTerms(INDArray teacher, INDArray student, INDArray mask) {
        INDArray diff = Transforms.abs(unit(student).subi(unit(teacher)), false);
        return masked(diff, mask).muli(weight);
    }

    @Override
    protected INDArray studentGradient(INDArray teacher, INDArray student, INDArray mask) {
        INDArray norms = floored(student);
        INDArray u = student.divColumnVector(norms);
        INDArray g = masked(Transforms.sign(u.sub(unit(teacher)), false), mask);
        // d u / d p = (I − u uᵀ) / ‖p‖ above the floor, I / floor at or below it.
        INDArray projection = u.mul(g).sum(true, 1).muli(norms.gt(NORM_FLOOR).castTo(u.dataType()));
        return g.subi(u.muliColumnVector(projection)).diviColumnVector(norms).muli(weight);
    }

    /** Each row scaled to unit L2 norm (rows at or below the floor divided by the floor). */
    static INDArray unit(INDArray rows) {
        return rows.divColumnVector(floored(rows));
    }

    private static INDArray floored(INDArray rows) {
        return Transforms.max(rows.norm2(true, 1), NORM_FLOOR, false);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NormalizedL1Loss other && Double.compare(weight, other.weight) == 0;
    }

    @Override
    public int hashCode() {
        return Double.hashCode(weight);
    }

    @Override
    public String toString() {
        return "NormalizedL1Loss(weight=" + weight + ")";
    }
}
