package io.distillery.loss;

import io.distillery.tensor.AttentionMaps;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * RTK ("Representative Teacher Keys", Yang, Kao &amp; Huang, arXiv 2206.12788), <b>reconstruction
 * v0 from the abstract: not the paper's own formulation</b> (see the method card rtk.md). The
 * student's attention map q (as from {@code AttentionMapLayer}) is the query; the teacher's
 * channel energy maps are keys and values; the target is built from the channels most similar to
 * q only. With ρ = 1 and τ → ∞ it is Attention Transfer (Zagoruyko &amp; Komodakis 2017).
 *
 * <p>Labels: [B, C·HW], the teacher's raw tap activations flattened C, H, W (as stored). preOutput:
 * [B, HW], the student's map q; the layer's activation should be IDENTITY (another one is applied
 * and backpropagated). Per example:
 * <ul>
 *   <li>e_c = A_c² (HW values), k_c = e_c / ‖e_c‖; dead channels (‖e_c‖ ≤ {@value #DEAD_CHANNEL_NORM})
 *       take no part;</li>
 *   <li>s_c = q·k_c; R = the ⌈ρ·C_alive⌉ alive channels with the largest s_c (ties: lower index);</li>
 *   <li>w = softmax over R of s_c/τ; t = normalise(Σ_{c∈R} w_c e_c), the zero map if all are dead;</li>
 *   <li>score = β·(1/HW)·‖q − t‖²; gradient 2β(q − t)/HW.</li>
 * </ul>
 * The target is a <b>stop-gradient</b> constant: R and w depend on q, but no gradient flows through
 * them (otherwise the student could steer its own target, a collapse). So the gradient is that of
 * the score with t frozen, and matches finite differences of the score only where t is locally
 * constant (|R| = 1 away from ties, or τ → ∞). Masks: per example (N x 1) only.
 *
 * <p>Scores and gradients follow DL4J's conventions as in {@link TeacherTargetLoss}: per-example
 * scores, averaged over N by {@code computeScore(average = true)}, gradients not divided by N.
 * ({@code TeacherTargetLoss} itself does not fit: it needs labels and output of the same width.)
 */
public final class RtkLoss implements ILossFunction {
    public static final double DEFAULT_WEIGHT = 1000;
    public static final double DEFAULT_RHO = 0.5;
    public static final double DEFAULT_TAU = 0.1;
    /** Channels whose energy map has at most this L2 norm are dead: no key, no weight, not counted in ⌈ρ·C⌉. */
    public static final double DEAD_CHANNEL_NORM = 1e-12;
    /** Slack in ⌈ρ·C⌉ so that, say, ρ = 0.14 and C = 50 keep 7 channels although 0.14·50 = 7.000000000000001. */
    private static final double CEIL_SLACK = 1e-9;

    @JsonProperty("weight")
    private final double weight;
    @JsonProperty("rho")
    private final double rho;
    @JsonProperty("tau")
    private final double tau;
    @JsonProperty("teacherChannels")
    private final int teacherChannels;
    @JsonProperty("positions")
    private final int positions;

    /**
     * @param weight          β, the loss weight (≥ 0)
     * @param rho             ρ ∈ (0, 1], the fraction of alive teacher channels kept as representative
     * @param tau             τ &gt; 0, the softmax temperature over the kept channels' similarities
     * @param teacherChannels C, the teacher tap's channels
     * @param positions       HW, the tap's spatial positions (the width of q)
     */
    @JsonCreator
    public RtkLoss(@JsonProperty("weight") double weight, @JsonProperty("rho") double rho,
            @JsonProperty("tau") double tau, @JsonProperty("teacherChannels") int teacherChannels,
            @JsonProperty("positions") int positions) {
        if (!(weight >= 0) || Double.isInfinite(weight)) {
            throw new IllegalArgumentException("RTK weight must be >= 0 and finite, got " + weight);
        }
        if (!(rho > 0 && rho <= 1)) {
            throw new IllegalArgumentException("RTK rho must be in (0, 1], got " + rho);
        }
        if (!(tau > 0) || Double.isInfinite(tau)) {
            throw new IllegalArgumentException("RTK tau must be positive and finite, got " + tau);
        }
        if (teacherChannels < 1 || positions < 1) {
            throw new IllegalArgumentException("RTK teacher channels and positions must be >= 1, got "
                    + teacherChannels + " and " + positions);
        }
        this.weight = weight;
        this.rho = rho;
        this.tau = tau;
        this.teacherChannels = teacherChannels;
        this.positions = positions;
    }

    public double getWeight() {
        return weight;
    }

    public double getRho() {
        return rho;
    }

    public double getTau() {
        return tau;
    }

    public int getTeacherChannels() {
        return teacherChannels;
    }

    public int getPositions() {
        return positions;
    }

    @Override
    public double computeScore(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask,
            boolean average) {
        INDArray scores = computeScoreArray(labels, preOutput, activationFn, mask);
        double sum = scores.sumNumber().doubleValue();
        return average ? sum / scores.size(0) : sum;
    }

    @Override
    public INDArray computeScoreArray(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        check(labels, preOutput, mask);
        INDArray q = activationFn.getActivation(preOutput.dup(), true);
        return scores(q, targets(labels, q), mask);
    }

    @Override
    public INDArray computeGradient(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        check(labels, preOutput, mask);
        INDArray q = activationFn.getActivation(preOutput.dup(), true);
        return gradient(preOutput, activationFn, q, targets(labels, q), mask);
    }

    /** As the two calls, with the targets computed once. */
    @Override
    public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation activationFn,
            INDArray mask, boolean average) {
        check(labels, preOutput, mask);
        INDArray q = activationFn.getActivation(preOutput.dup(), true);
        INDArray t = targets(labels, q);
        double score = scores(q, t, mask).sumNumber().doubleValue();
        return new Pair<>(average ? score / q.size(0) : score, gradient(preOutput, activationFn, q, t, mask));
    }

    /** Per-example scores β·(1/HW)·‖q − t‖², times the mask (N x 1). */
    private INDArray scores(INDArray q, INDArray t, INDArray mask) {
        INDArray diff = q.sub(t);
        return masked(diff.muli(diff).sum(true, 1).muli(weight / positions), mask);
    }

    /** 2β(q − t)/HW times the mask, backpropagated through the activation; t is a constant. */
    private INDArray gradient(INDArray preOutput, IActivation activationFn, INDArray q, INDArray t, INDArray mask) {
        INDArray dLdq = masked(q.sub(t).muli(2 * weight / positions), mask);
        return activationFn.backprop(preOutput.dup(), dLdq).getFirst();
    }

    /**
     * The targets t, [B, HW] in q's data type, for teacher activations {@code labels} [B, C·HW] and
     * the (activated) student maps {@code q} [B, HW]. Computed in double precision.
     */
    public INDArray targets(INDArray labels, INDArray q) {
        check(labels, q, null);
        double[][] teacher = labels.toDoubleMatrix();
        double[][] query = q.toDoubleMatrix();
        double[][] t = new double[query.length][];
        for (int i = 0; i < query.length; i++) {
            t[i] = target(teacher[i], query[i]);
        }
        return Nd4j.create(t).castTo(q.dataType());
    }

    /** One example's target; {@code teacher} is C·HW values in C, H, W order. */
    private double[] target(double[] teacher, double[] q) {
        int hw = positions;
        double[][] energy = new double[teacherChannels][hw];
        double[] similarity = new double[teacherChannels];
        int[] alive = new int[teacherChannels];
        int aliveCount = 0;
        for (int c = 0; c < teacherChannels; c++) {
            double squaredNorm = 0, dot = 0;
            for (int p = 0; p < hw; p++) {
                double a = teacher[c * hw + p];
                double e = a * a;
                energy[c][p] = e;
                squaredNorm += e * e;
                dot += q[p] * e;
            }
            double norm = Math.sqrt(squaredNorm);
            if (norm > DEAD_CHANNEL_NORM) {
                similarity[c] = dot / norm;
                alive[aliveCount++] = c;
            }
        }
        double[] t = new double[hw];
        if (aliveCount == 0) {
            return t;
        }
        int kept = Math.max(1, Math.min(aliveCount, (int) Math.ceil(rho * aliveCount - CEIL_SLACK)));
        int[] representative = IntStream.of(Arrays.copyOf(alive, aliveCount)).boxed()
                .sorted(Comparator.comparingDouble((Integer c) -> -similarity[c]).thenComparingInt(c -> c))
                .limit(kept).mapToInt(Integer::intValue).toArray();

        double top = similarity[representative[0]];
        double weightSum = 0;
        for (int c : representative) {
            double w = Math.exp((similarity[c] - top) / tau);
            weightSum += w;
            for (int p = 0; p < hw; p++) {
                t[p] += w * energy[c][p];
            }
        }
        double norm = 0;
        for (int p = 0; p < hw; p++) {
            t[p] /= weightSum;
            norm += t[p] * t[p];
        }
        double scale = 1 / Math.max(Math.sqrt(norm), AttentionMaps.NORM_FLOOR);
        for (int p = 0; p < hw; p++) {
            t[p] *= scale;
        }
        return t;
    }

    private static INDArray masked(INDArray perExample, INDArray mask) {
        return mask == null ? perExample : perExample.muliColumnVector(mask.reshape(mask.length(), 1)
                .castTo(perExample.dataType()));
    }

    private void check(INDArray labels, INDArray preOutput, INDArray mask) {
        if (labels.rank() != 2 || preOutput.rank() != 2 || labels.size(0) != preOutput.size(0)
                || labels.size(1) != (long) teacherChannels * positions || preOutput.size(1) != positions) {
            throw new IllegalArgumentException("RtkLoss: labels (teacher) must be N x " + teacherChannels + "*"
                    + positions + " and preOutput (student map) N x " + positions + ", got "
                    + Arrays.toString(labels.shape()) + " and " + Arrays.toString(preOutput.shape()));
        }
        if (mask != null && mask.length() != labels.size(0)) {
            throw new IllegalArgumentException("RtkLoss: only per-example masks (N x 1) are supported, got "
                    + Arrays.toString(mask.shape()));
        }
    }

    @Override
    public String name() {
        return toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RtkLoss other && Double.compare(weight, other.weight) == 0
                && Double.compare(rho, other.rho) == 0 && Double.compare(tau, other.tau) == 0
                && teacherChannels == other.teacherChannels && positions == other.positions;
    }

    @Override
    public int hashCode() {
        int h = Double.hashCode(weight);
        h = 31 * h + Double.hashCode(rho);
        h = 31 * h + Double.hashCode(tau);
        h = 31 * h + teacherChannels;
        return 31 * h + positions;
    }

    @Override
    public String toString() {
        return "RtkLoss(variant=reconstructed-v0, weight=" + weight + ", rho=" + rho + ", tau=" + tau
                + ", teacherChannels=" + teacherChannels + ", positions=" + positions + ")";
    }
}
