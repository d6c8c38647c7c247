package io.distillery.loss;

import static io.distillery.loss.FiniteDifferences.array;
import static io.distillery.loss.FiniteDifferences.gaussian;
import static io.distillery.loss.FiniteDifferences.maxRelativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.impl.LossKLD;
import org.nd4j.linalg.ops.transforms.Transforms;

@org.junit.jupiter.api.extension.ExtendWith(DoublePrecision.class)
class KnowledgeDistillationLossTest {
    private static final int N = 5, K = 6;


    /**
     * Per-example score straight from the definition, in plain doubles. {@code mask} is N x K (a
     * per-example mask repeated along the row); with {@code perOutput}, classes whose mask is 0 are
     * left out of both softmaxes.
     */
    private static double[] reference(double[][] t, double[][] s, double temp, double weight, double[][] mask,
            boolean perOutput) {
        double[] scores = new double[t.length];
        for (int i = 0; i < t.length; i++) {
            double zt = 0, zs = 0;
            for (int k = 0; k < K; k++) {
                if (!perOutput || mask[i][k] > 0) {
                    zt += Math.exp(t[i][k] / temp);
                    zs += Math.exp(s[i][k] / temp);
                }
            }
            for (int k = 0; k < K; k++) {
                if (!perOutput || mask[i][k] > 0) {
                    double pt = Math.exp(t[i][k] / temp) / zt, ps = Math.exp(s[i][k] / temp) / zs;
                    scores[i] += mask[i][k] * pt * (Math.log(pt) - Math.log(ps));
                }
            }
            scores[i] *= weight * temp * temp;
        }
        return scores;
    }

    private static double[][] ones() {
        double[][] m = new double[N][K];
        for (double[] row : m) {
            java.util.Arrays.fill(row, 1);
        }
        return m;
    }

    private static double[][] perExample(double... weights) {
        double[][] m = new double[N][K];
        for (int i = 0; i < N; i++) {
            java.util.Arrays.fill(m[i], weights[i]);
        }
        return m;
    }

    /** A 0/1 top-k style mask: three classes per row, one row with none. */
    private static double[][] topK() {
        double[][] m = new double[N][K];
        for (int i = 0; i < N - 1; i++) {
            for (int j = 0; j < 3; j++) {
                m[i][(i + 2 * j) % K] = 1;
            }
        }
        return m;
    }

    static Stream<Arguments> cases() {
        double[][] weighted = topK();
        weighted[0][0] = 0.5;
        weighted[1][1] = 2.5;
        return Stream.of(
                Arguments.of("T=1", 1.0, 1.0, null, ones(), false),
                Arguments.of("T=4", 4.0, 1.0, null, ones(), false),
                Arguments.of("T=2.5, weight 0.3", 2.5, 0.3, null, ones(), false),
                Arguments.of("weight 0", 3.0, 0.0, null, ones(), false),
                Arguments.of("per-example mask", 4.0, 0.7, "example", perExample(1, 0, 1, 0.5, 1), false),
                Arguments.of("per-output 0/1 mask", 4.0, 1.0, "output", topK(), true),
                Arguments.of("per-output weighted mask", 2.0, 1.5, "output", weighted, true));
    }

    private static INDArray maskArray(String kind, double[][] m) {
        if (kind == null) {
            return null;
        }
        if (kind.equals("example")) {
            double[][] column = new double[N][1];
            for (int i = 0; i < N; i++) {
                column[i][0] = m[i][0];
            }
            return array(column);
        }
        return array(m);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void scoreMatchesTheDefinition(String name, double temp, double weight, String maskKind, double[][] m,
            boolean perOutput) {
        Random random = new Random(name.hashCode());
        double[][] t = gaussian(random, N, K, 3), s = gaussian(random, N, K, 2);
        KnowledgeDistillationLoss loss = new KnowledgeDistillationLoss(temp, weight);
        INDArray mask = maskArray(maskKind, m);
        IActivation identity = Activation.IDENTITY.getActivationFunction();

        double[] expected = reference(t, s, temp, weight, m, perOutput);
        INDArray scores = loss.computeScoreArray(array(t), array(s), identity, mask);
        assertArrayEquals(new long[] {N, 1}, scores.shape());
        assertArrayEquals(expected, scores.reshape(N).toDoubleVector(), 1e-12);

        double sum = java.util.Arrays.stream(expected).sum();
        assertEquals(sum, loss.computeScore(array(t), array(s), identity, mask, false), 1e-12);
        assertEquals(sum / N, loss.computeScore(array(t), array(s), identity, mask, true), 1e-12);
        assertEquals(sum / N, loss.computeGradientAndScore(array(t), array(s), identity, mask, true).getFirst(), 1e-12);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void gradientMatchesFiniteDifferences(String name, double temp, double weight, String maskKind, double[][] m,
            boolean perOutput) {
        Random random = new Random(name.hashCode() + 1);
        INDArray t = array(gaussian(random, N, K, 3)), s = array(gaussian(random, N, K, 2));
        KnowledgeDistillationLoss loss = new KnowledgeDistillationLoss(temp, weight);
        INDArray mask = maskArray(maskKind, m);
        for (Activation a : new Activation[] {Activation.IDENTITY, Activation.TANH, Activation.SOFTMAX}) {
            IActivation act = a.getActivationFunction();
            INDArray sBefore = s.dup(), tBefore = t.dup();
            INDArray grad = loss.computeGradient(t, s, act, mask);
            loss.computeScoreArray(t, s, act, mask);
            assertEquals(sBefore, s, "preOutput untouched");
            assertEquals(tBefore, t, "labels untouched");
            assertArrayEquals(new long[] {N, K}, grad.shape());
            assertEquals(grad, loss.computeGradientAndScore(t, s, act, mask, true).getSecond());
            double err = maxRelativeError(loss, t, s, act, mask, grad);
            assertTrue(err < 1e-6, name + ", " + a + ": max relative error " + err);
            if (weight > 0) {
                double wrong = maxRelativeError(loss, t, s, act, mask, grad.mul(1.001));
                assertTrue(wrong > 1e-6, "the check must catch a 0.1% error, got " + wrong);
            }
        }
    }

    @Test
    void gradientIsWeightTimesTemperatureTimesDifferenceOfSoftenedDistributions() {
        Random random = new Random(3);
        INDArray t = array(gaussian(random, N, K, 3)), s = array(gaussian(random, N, K, 3));
        INDArray expected = Transforms.softmax(s.div(4), true).sub(Transforms.softmax(t.div(4), true)).muli(0.5 * 4);
        INDArray grad = new KnowledgeDistillationLoss(4, 0.5).computeGradient(t, s,
                Activation.IDENTITY.getActivationFunction(), null);
        assertTrue(expected.equalsWithEps(grad, 1e-12), grad + " vs " + expected);
    }

    @Test
    void agreesWithDl4jKldAtTemperatureOne() {
        // LossKLD on (softmax(t), softmax(s)) is the same KL divergence, computed by DL4J's own code.
        // (LossKLD backpropagates in place into preOutput, hence the dup.)
        Random random = new Random(4);
        INDArray t = array(gaussian(random, N, K, 1)), s = array(gaussian(random, N, K, 1));
        IActivation softmax = Activation.SOFTMAX.getActivationFunction();
        INDArray pt = Transforms.softmax(t, true);
        KnowledgeDistillationLoss kd = new KnowledgeDistillationLoss(1, 1);
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        assertTrue(new LossKLD().computeScoreArray(pt, s.dup(), softmax, null)
                .equalsWithEps(kd.computeScoreArray(t, s, identity, null), 1e-10));
        assertTrue(new LossKLD().computeGradient(pt, s.dup(), softmax, null)
                .equalsWithEps(kd.computeGradient(t, s, identity, null), 1e-10));
    }

    @Test
    void largeLogitsStayFiniteAndShiftInvariant() {
        Random random = new Random(5);
        INDArray t = array(gaussian(random, N, K, 3)), s = array(gaussian(random, N, K, 3));
        KnowledgeDistillationLoss loss = new KnowledgeDistillationLoss(1, 1);
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        INDArray scores = loss.computeScoreArray(t, s, identity, null);
        INDArray shifted = loss.computeScoreArray(t.add(5000), s.sub(3000), identity, null);
        assertTrue(scores.equalsWithEps(shifted, 1e-9), scores + " vs " + shifted);
        INDArray grad = loss.computeGradient(t.add(5000), s.sub(3000), identity, null);
        assertTrue(loss.computeGradient(t, s, identity, null).equalsWithEps(grad, 1e-9));
    }

    @Test
    void classesOutsideAPerOutputMaskHaveNoEffect() {
        Random random = new Random(6);
        INDArray t = array(gaussian(random, N, K, 3)), s = array(gaussian(random, N, K, 3));
        INDArray mask = array(topK());
        INDArray garbage = t.add(array(gaussian(random, N, K, 50)).muli(mask.rsub(1)));
        KnowledgeDistillationLoss loss = new KnowledgeDistillationLoss();
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        assertTrue(loss.computeScoreArray(t, s, identity, mask).equalsWithEps(
                loss.computeScoreArray(garbage, s, identity, mask), 1e-12));
        INDArray grad = loss.computeGradient(garbage, s, identity, mask);
        assertTrue(loss.computeGradient(t, s, identity, mask).equalsWithEps(grad, 1e-12));
        assertEquals(0, grad.mul(mask.rsub(1)).norm1Number().doubleValue(), "no gradient outside the mask");
        assertEquals(0, grad.getRow(N - 1).norm1Number().doubleValue(), "the row with no classes");
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> new KnowledgeDistillationLoss(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new KnowledgeDistillationLoss(-1, 1));
        assertThrows(IllegalArgumentException.class, () -> new KnowledgeDistillationLoss(Double.NaN, 1));
        assertThrows(IllegalArgumentException.class, () -> new KnowledgeDistillationLoss(4, -0.1));
        KnowledgeDistillationLoss loss = new KnowledgeDistillationLoss();
        assertEquals(4.0, loss.getTemperature());
        assertEquals(1.0, loss.getWeight());
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> loss.computeScore(Nd4j.zeros(3, 4), Nd4j.zeros(3, 5), identity, null, true));
        assertTrue(e.getMessage().contains("[3, 4]") && e.getMessage().contains("[3, 5]"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> loss.computeGradient(Nd4j.zeros(3, 4), Nd4j.zeros(3, 4), identity, Nd4j.ones(3, 2)));
    }

    @Test
    void valueSemanticsAndName() {
        assertEquals(new KnowledgeDistillationLoss(2, 0.5), new KnowledgeDistillationLoss(2, 0.5));
        assertEquals(new KnowledgeDistillationLoss(2, 0.5).hashCode(), new KnowledgeDistillationLoss(2, 0.5).hashCode());
        assertTrue(!new KnowledgeDistillationLoss(2, 0.5).equals(new KnowledgeDistillationLoss(2, 0.6)));
        assertEquals("KnowledgeDistillationLoss(temperature=2.0, weight=0.5)", new KnowledgeDistillationLoss(2, 0.5).name());
    }
}
