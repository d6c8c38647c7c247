package io.distillery.loss;

import static io.distillery.loss.FiniteDifferences.array;
import static io.distillery.loss.FiniteDifferences.gaussian;
import static io.distillery.loss.FiniteDifferences.maxRelativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.tensor.AttentionMaps;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.Arrays;
import java.util.Random;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * {@link RtkLoss} (reconstruction v0) on its own, in double precision: the hand-checkable channel
 * selection, AT as the special case ρ = 1, τ → ∞, gradients (finite differences where the target
 * is locally constant, the frozen-target gradient elsewhere), dead channels, masks, serialisation.
 */
@ExtendWith(DoublePrecision.class)
class RtkLossTest {
    private static final int N = 4, C = 6, H = 3, W = 3, HW = H * W;
    private static final IActivation IDENTITY = Activation.IDENTITY.getActivationFunction();

    /** Teacher activations [N, C·HW] flattened C, H, W. */
    private static INDArray teacher(long seed) {
        return array(gaussian(new Random(seed), N, C * HW, 1.5));
    }

    /** Student maps q [N, HW]: normalised attention maps, as the AttentionMapLayer produces. */
    private static INDArray studentMaps(long seed) {
        return AttentionMaps.normalized(array(gaussian(new Random(seed), N, 3 * HW, 1)).reshape('c', N, 3, H, W));
    }

    private static INDArray asNchw(INDArray teacher, int channels) {
        return teacher.reshape('c', teacher.size(0), channels, H, W);
    }

    /** Similarities s_c = q·k_c of one example, recomputed independently of RtkLoss. */
    private static double[] similarities(INDArray teacher, INDArray q, int example, int channels) {
        INDArray e = asNchw(teacher, channels).slice(example).reshape('c', channels, HW);
        e = e.mul(e);
        double[] s = new double[channels];
        for (int c = 0; c < channels; c++) {
            INDArray energy = e.getRow(c);
            double norm = energy.norm2Number().doubleValue();
            s[c] = norm == 0 ? Double.NaN : energy.mul(q.getRow(example)).sumNumber().doubleValue() / norm;
        }
        return s;
    }

    /** Smallest gap between consecutive sorted similarities over all examples: how far from top-k ties. */
    private static double smallestSimilarityGap(INDArray teacher, INDArray q) {
        double gap = Double.MAX_VALUE;
        for (int i = 0; i < q.rows(); i++) {
            double[] s = Arrays.stream(similarities(teacher, q, i, C)).filter(v -> !Double.isNaN(v)).sorted().toArray();
            for (int j = 1; j < s.length; j++) {
                gap = Math.min(gap, s[j] - s[j - 1]);
            }
        }
        return gap;
    }

    // ---------------------------------------------------------------- selection, by hand

    /**
     * HW = 2 and four teacher channels: e = [1, 0], [0, 1], [1, 1] and a dead one, against
     * q = [0.96, 0.28]. Similarities: 0.96, 0.28, 1.24/√2 ≈ 0.877, none. Three channels are alive.
     */
    private static final double[][] HAND_TEACHER = {{1, 0, 0, 1, 1, 1, 0, 0}};
    private static final double[][] HAND_Q = {{0.96, 0.28}};

    private static double[] handTarget(double rho, double tau) {
        return new RtkLoss(1, rho, tau, 4, 2).targets(array(HAND_TEACHER), array(HAND_Q)).toDoubleVector();
    }

    private static double[] normalised(double... v) {
        double norm = Math.sqrt(Arrays.stream(v).map(x -> x * x).sum());
        return Arrays.stream(v).map(x -> x / norm).toArray();
    }

    @Test
    void keepsTheMostSimilarChannelsByHand() {
        double s0 = 0.96, s2 = 1.24 / Math.sqrt(2), s1 = 0.28, tau = 0.1;
        // ρ = 0.3: ⌈0.9⌉ = 1 channel, the most similar one, channel 0.
        assertArrayEquals(new double[] {1, 0}, handTarget(0.3, tau), 1e-15);
        // ρ = 0.5: ⌈1.5⌉ = 2 channels, 0 and 2; softmax weights of s/τ.
        double w0 = Math.exp(s0 / tau), w2 = Math.exp(s2 / tau);
        assertArrayEquals(normalised(w0 + w2, w2), handTarget(0.5, tau), 1e-15);
        // ρ = 1: all three alive channels (the dead one counts for nothing, not even in ⌈ρ·C⌉).
        double w1 = Math.exp(s1 / tau);
        assertArrayEquals(normalised(w0 + w2, w1 + w2), handTarget(1, tau), 1e-15);
        // A large τ makes the kept channels weigh equally.
        assertArrayEquals(normalised(2, 1), handTarget(0.5, 1e9), 1e-9);
    }

    @Test
    void unselectedChannelsHaveNoInfluence() {
        RtkLoss loss = new RtkLoss(1, 0.5, 0.1, 4, 2);
        INDArray base = loss.targets(array(HAND_TEACHER), array(HAND_Q));
        // Channel 1 rescaled (its key, so its rank, is unchanged): the target does not move.
        double[][] changed = {{1, 0, 0, 7, 1, 1, 0, 0}};
        assertTrue(base.equalsWithEps(loss.targets(array(changed), array(HAND_Q)), 0));
        // Whereas with all channels kept it does.
        RtkLoss all = new RtkLoss(1, 1, 0.1, 4, 2);
        assertNotEquals(all.targets(array(HAND_TEACHER), array(HAND_Q)), all.targets(array(changed), array(HAND_Q)));
    }

    @Test
    void keptCountIsCeilingOfRhoTimesAliveChannelsWithoutRoundingSurprises() {
        // 50 channels, HW = 2, channel c with energy [1, c/100]: against q = [1, 0] similarity falls with c.
        // ρ = 0.14 keeps ⌈7⌉ = 7 channels, although 0.14·50 = 7.000000000000001 in doubles.
        int channels = 50;
        double[][] teacher = new double[1][2 * channels];
        for (int c = 0; c < channels; c++) {
            teacher[0][2 * c] = 1;
            teacher[0][2 * c + 1] = Math.sqrt(c / 100.0);
        }
        assertEquals(7.000000000000001, 0.14 * channels, 0.0);
        double[] t = new RtkLoss(1, 0.14, 1e9, channels, 2).targets(array(teacher), array(new double[][] {{1, 0}}))
                .toDoubleVector();
        // τ huge: equal weights, t = normalise(Σ_{c<7} [1, c/100]) = normalise([7, 0.21]).
        assertArrayEquals(normalised(7, 0.21), t, 1e-9);
    }

    // ---------------------------------------------------------------- AT as a special case

    /**
     * With ρ = 1 every alive channel is kept, and as τ → ∞ the weights become uniform, so t is the
     * normalised channel mean of A², AT's target. At finite τ the weights are off by O(s/τ), so the
     * scores differ by O(β/τ) (observed ≈ 1e-8 at β = 1000, τ = 1e9): τ is scaled with β here.
     */
    @ParameterizedTest
    @CsvSource({"1, 1e9", "1000, 1e12"})
    void rhoOneAndHugeTauIsAttentionTransfer(double beta, double tau) {
        INDArray teacher = teacher(1);
        teacher.get(org.nd4j.linalg.indexing.NDArrayIndex.point(2),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(HW, 2 * HW)).assign(0); // a dead channel too
        INDArray q = studentMaps(2);
        INDArray atTarget = AttentionMaps.normalized(asNchw(teacher, C));
        RtkLoss rtk = new RtkLoss(beta, 1, tau, C, HW);
        HintLoss at = new HintLoss(beta);

        assertTrue(maxAbsDiff(rtk.targets(teacher, q), atTarget) < 1e-9);
        assertTrue(maxAbsDiff(rtk.computeScoreArray(teacher, q, IDENTITY, null),
                at.computeScoreArray(atTarget, q, IDENTITY, null)) < 1e-9);
        assertEquals(at.computeScore(atTarget, q, IDENTITY, null, true),
                rtk.computeScore(teacher, q, IDENTITY, null, true), 1e-9);
        assertTrue(maxAbsDiff(rtk.computeGradient(teacher, q, IDENTITY, null),
                at.computeGradient(atTarget, q, IDENTITY, null)) < 1e-9);

        // Not vacuous: keeping half the channels is a different loss.
        double half = new RtkLoss(beta, 0.5, tau, C, HW).computeScore(teacher, q, IDENTITY, null, true);
        assertTrue(Math.abs(half - at.computeScore(atTarget, q, IDENTITY, null, true)) > 1e-3 * half);
    }

    private static double maxAbsDiff(INDArray a, INDArray b) {
        assertArrayEquals(a.shape(), b.shape());
        return org.nd4j.linalg.ops.transforms.Transforms.abs(a.sub(b)).maxNumber().doubleValue();
    }

    // ---------------------------------------------------------------- gradients

    /** Where t is locally constant (one kept channel away from ties; or τ → ∞) the score's derivative is the gradient. */
    @ParameterizedTest
    @CsvSource({
        "0.1, 0.1, none", "0.1, 0.1, example", "0.1, 5, none", // ⌈0.6⌉ = 1 channel: t is one channel's map
        "1.0, 1e9, none", "0.5, 1e9, example"})                // uniform weights: t moves by ~1e-9 only
    void gradientMatchesFiniteDifferencesWhereTheTargetIsLocallyConstant(double rho, double tau, String maskKind) {
        INDArray teacher = teacher(3);
        INDArray mask = maskKind.equals("none") ? null : array(new double[][] {{1}, {0}, {0.5}, {2}});
        RtkLoss loss = new RtkLoss(7.5, rho, tau, C, HW);
        for (Activation a : new Activation[] {Activation.IDENTITY, Activation.TANH}) {
            IActivation act = a.getActivationFunction();
            INDArray pre = studentMaps(4).muli(2);
            assertTrue(smallestSimilarityGap(teacher, act.getActivation(pre.dup(), false)) > 1e-4,
                    "test data must be away from top-k ties");
            INDArray preBefore = pre.dup(), teacherBefore = teacher.dup();
            INDArray grad = loss.computeGradient(teacher, pre, act, mask);
            assertEquals(preBefore, pre, "preOutput untouched");
            assertEquals(teacherBefore, teacher, "labels untouched");
            assertArrayEquals(new long[] {N, HW}, grad.shape());
            double err = maxRelativeError(loss, teacher, pre, act, mask, grad);
            assertTrue(err < 1e-6, rho + "/" + tau + "/" + maskKind + "/" + a + ": max relative error " + err);
            double wrong = maxRelativeError(loss, teacher, pre, act, mask, grad.mul(1.001));
            assertTrue(wrong > 1e-6, "negative control: the check must catch a 0.1% error, got " + wrong);
        }
    }

    /**
     * In general t moves with q (through the softmax weights), and the loss stops that gradient: the
     * gradient is exactly HintLoss's with the target frozen at the current q, which finite
     * differences confirm, and differs from the score's full derivative.
     */
    @ParameterizedTest
    @ValueSource(strings = {"none", "example"})
    void gradientIsTheFrozenTargetGradient(String maskKind) {
        INDArray teacher = teacher(5);
        INDArray q = studentMaps(6);
        INDArray mask = maskKind.equals("none") ? null : array(new double[][] {{1}, {0}, {0.5}, {2}});
        double beta = 3;
        RtkLoss rtk = new RtkLoss(beta, 0.5, 0.1, C, HW);
        INDArray frozen = rtk.targets(teacher, q);
        HintLoss hint = new HintLoss(beta);

        INDArray grad = rtk.computeGradient(teacher, q, IDENTITY, mask);
        assertTrue(grad.equalsWithEps(hint.computeGradient(frozen, q, IDENTITY, mask), 1e-14));
        assertTrue(rtk.computeScoreArray(teacher, q, IDENTITY, mask)
                .equalsWithEps(hint.computeScoreArray(frozen, q, IDENTITY, mask), 1e-14));
        double err = maxRelativeError(hint, frozen, q, IDENTITY, mask, grad);
        assertTrue(err < 1e-6, "frozen-target finite differences: max relative error " + err);
        assertTrue(maxRelativeError(hint, frozen, q, IDENTITY, mask, grad.mul(1.001)) > 1e-6, "negative control");

        double full = maxRelativeError(rtk, teacher, q, IDENTITY, mask, grad);
        assertTrue(full > 1e-3, "no gradient through the weights: the full derivative differs, by " + full);
    }

    // ---------------------------------------------------------------- dead channels

    @Test
    void deadChannelsAreExcludedAndNeverProduceNaN() {
        INDArray teacher = teacher(7);
        INDArray nchw = asNchw(teacher, C);
        nchw.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.point(1)).assign(0);
        nchw.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.point(4)).assign(0);
        nchw.slice(3).assign(0); // an example whose channels are all dead
        teacher = nchw.reshape('c', N, C * HW);
        INDArray q = studentMaps(8);

        for (double rho : new double[] {0.25, 0.5, 1}) {
            RtkLoss loss = new RtkLoss(2, rho, 0.1, C, HW);
            INDArray t = loss.targets(teacher, q);
            INDArray scores = loss.computeScoreArray(teacher, q, IDENTITY, null);
            INDArray grad = loss.computeGradient(teacher, q, IDENTITY, null);
            for (INDArray x : new INDArray[] {t, scores, grad}) {
                assertFalse(x.isNaN().any() || x.isInfinite().any(), "rho " + rho + ": " + x);
            }
            assertEquals(0.0, t.getRow(3).norm2Number().doubleValue(), 0.0, "all dead: the zero target");
            assertEquals(2.0 / HW * q.getRow(3).mul(q.getRow(3)).sumNumber().doubleValue(), scores.getDouble(3), 1e-15);
        }
        // Dead channels don't count in ⌈ρ·C_alive⌉: same scores as the teacher without them (4 channels).
        INDArray alive = Nd4j.concat(1, asNchw(teacher, C).get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.indices(0, 2, 3, 5))).dup('c').reshape('c', N, 4L * HW);
        assertTrue(new RtkLoss(2, 0.5, 0.1, C, HW).computeScoreArray(teacher, q, IDENTITY, null)
                .equalsWithEps(new RtkLoss(2, 0.5, 0.1, 4, HW).computeScoreArray(alive, q, IDENTITY, null), 1e-14));
    }

    // ---------------------------------------------------------------- conventions, masks, shapes

    @Test
    void scoreFollowsDl4jConventionsAndPerExampleMasks() {
        INDArray teacher = teacher(9);
        INDArray q = studentMaps(10);
        RtkLoss loss = new RtkLoss(4, 0.5, 0.1, C, HW);
        INDArray t = loss.targets(teacher, q);
        double[] expected = new double[N];
        for (int i = 0; i < N; i++) {
            INDArray d = q.getRow(i).sub(t.getRow(i));
            expected[i] = 4.0 / HW * d.mul(d).sumNumber().doubleValue();
        }
        INDArray scores = loss.computeScoreArray(teacher, q, IDENTITY, null);
        assertArrayEquals(new long[] {N, 1}, scores.shape());
        assertArrayEquals(expected, scores.reshape(N).toDoubleVector(), 1e-14);
        double sum = Arrays.stream(expected).sum();
        assertEquals(sum, loss.computeScore(teacher, q, IDENTITY, null, false), 1e-13);
        assertEquals(sum / N, loss.computeScore(teacher, q, IDENTITY, null, true), 1e-13);
        var both = loss.computeGradientAndScore(teacher, q, IDENTITY, null, true);
        assertEquals(sum / N, both.getFirst(), 1e-13);
        assertTrue(both.getSecond().equalsWithEps(loss.computeGradient(teacher, q, IDENTITY, null), 0));

        INDArray mask = array(new double[][] {{1}, {0}, {0.5}, {2}});
        double[] m = mask.reshape(N).toDoubleVector();
        double[] maskedExpected = new double[N];
        for (int i = 0; i < N; i++) {
            maskedExpected[i] = m[i] * expected[i];
        }
        assertArrayEquals(maskedExpected, loss.computeScoreArray(teacher, q, IDENTITY, mask).reshape(N).toDoubleVector(), 1e-14);
        INDArray grad = loss.computeGradient(teacher, q, IDENTITY, mask);
        var bothMasked = loss.computeGradientAndScore(teacher, q, IDENTITY, mask, false);
        assertEquals(Arrays.stream(maskedExpected).sum(), bothMasked.getFirst(), 1e-13);
        assertTrue(bothMasked.getSecond().equalsWithEps(grad, 0));
        assertEquals(0.0, grad.getRow(1).norm2Number().doubleValue(), 0.0, "masked example, no gradient");
        assertTrue(grad.getRow(3).equalsWithEps(loss.computeGradient(teacher, q, IDENTITY, null).getRow(3).mul(2), 1e-14));
    }

    @Test
    void shapesAndMasksAreChecked() {
        RtkLoss loss = new RtkLoss(1, 0.5, 0.1, C, HW);
        INDArray teacher = teacher(11), q = studentMaps(12);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> loss.computeScoreArray(teacher.getColumns(0, 1, 2), q, IDENTITY, null));
        assertTrue(e.getMessage().startsWith("RtkLoss:"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> loss.computeGradient(teacher, teacher, IDENTITY, null));
        assertThrows(IllegalArgumentException.class,
                () -> loss.computeGradient(teacher, q.getRows(0, 1), IDENTITY, null));
        assertThrows(IllegalArgumentException.class,
                () -> loss.computeScoreArray(teacher, q, IDENTITY, Nd4j.ones(DataType.DOUBLE, N, HW)));
    }

    @Test
    void workingInFloat32StaysCloseToDouble() {
        INDArray teacher = teacher(13), q = studentMaps(14);
        RtkLoss loss = new RtkLoss(1000, 0.5, 0.1, C, HW);
        INDArray single = loss.computeScoreArray(teacher.castTo(DataType.FLOAT16), q.castTo(DataType.FLOAT), IDENTITY, null);
        assertEquals(DataType.FLOAT, single.dataType());
        assertTrue(single.castTo(DataType.DOUBLE).equalsWithEps(
                loss.computeScoreArray(teacher.castTo(DataType.FLOAT16).castTo(DataType.DOUBLE), q, IDENTITY, null), 1e-3));
    }

    // ---------------------------------------------------------------- value semantics, serialisation

    @Test
    void argumentsAndValueSemantics() {
        assertThrows(IllegalArgumentException.class, () -> new RtkLoss(-1, 0.5, 0.1, C, HW));
        assertThrows(IllegalArgumentException.class, () -> new RtkLoss(Double.NaN, 0.5, 0.1, C, HW));
        assertThrows(IllegalArgumentException.class, () -> new RtkLoss(1, 0, 0.1, C, HW));
        assertThrows(IllegalArgumentException.class, () -> new RtkLoss(1, 1.01, 0.1, C, HW));
        assertThrows(IllegalArgumentException.class, () -> new RtkLoss(1, 0.5, 0, C, HW));
        assertThrows(IllegalArgumentException.class, () -> new RtkLoss(1, 0.5, Double.POSITIVE_INFINITY, C, HW));
        assertThrows(IllegalArgumentException.class, () -> new RtkLoss(1, 0.5, 0.1, 0, HW));
        assertThrows(IllegalArgumentException.class, () -> new RtkLoss(1, 0.5, 0.1, C, 0));

        RtkLoss loss = new RtkLoss(1000, 0.5, 0.1, 32, 64);
        assertEquals(1000, loss.getWeight());
        assertEquals(0.5, loss.getRho());
        assertEquals(0.1, loss.getTau());
        assertEquals(32, loss.getTeacherChannels());
        assertEquals(64, loss.getPositions());
        assertEquals(new RtkLoss(1000, 0.5, 0.1, 32, 64), loss);
        assertEquals(new RtkLoss(1000, 0.5, 0.1, 32, 64).hashCode(), loss.hashCode());
        for (RtkLoss other : new RtkLoss[] {new RtkLoss(999, 0.5, 0.1, 32, 64), new RtkLoss(1000, 0.25, 0.1, 32, 64),
                new RtkLoss(1000, 0.5, 1, 32, 64), new RtkLoss(1000, 0.5, 0.1, 16, 64),
                new RtkLoss(1000, 0.5, 0.1, 32, 16)}) {
            assertNotEquals(loss, other);
        }
        assertEquals("RtkLoss(variant=reconstructed-v0, weight=1000.0, rho=0.5, tau=0.1, teacherChannels=32,"
                + " positions=64)", loss.name());
    }

    @Test
    void survivesJsonAndJavaSerialization() throws Exception {
        RtkLoss loss = new RtkLoss(1000, 0.75, 0.05, 32, 64);
        // DL4J writes ILossFunction with its class name (@class); the loss's own properties are these.
        ObjectMapper mapper = NeuralNetConfiguration.mapper();
        String json = mapper.writeValueAsString(loss);
        for (String property : new String[] {"weight", "rho", "tau", "teacherChannels", "positions"}) {
            assertTrue(json.contains("\"" + property + "\""), json);
        }
        assertEquals(loss, mapper.readValue(json, ILossFunction.class));

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(loss);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(loss, in.readObject());
        }
    }
}
