package io.distillery.loss;

import static io.distillery.loss.FiniteDifferences.array;
import static io.distillery.loss.FiniteDifferences.gaussian;
import static io.distillery.loss.FiniteDifferences.maxRelativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.impl.LossMSE;

@org.junit.jupiter.api.extension.ExtendWith(DoublePrecision.class)
class HintLossTest {
    private static final int N = 4, D = 7;


    /** {@code null}, a per-example mask, a 0/1 per-output mask and a weighted per-output mask. */
    private static INDArray mask(String kind) {
        Random random = new Random(kind.hashCode());
        return switch (kind) {
            case "none" -> null;
            case "example" -> array(new double[][] {{1}, {0}, {0.5}, {1}});
            case "output01" -> array(gaussian(random, N, D, 1)).gt(0).castTo(DataType.DOUBLE);
            default -> array(gaussian(random, N, D, 1)).gt(0).castTo(DataType.DOUBLE).muli(1.5);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "example", "output01", "weighted"})
    void scoreMatchesTheDefinition(String maskKind) {
        Random random = new Random(1);
        double[][] t = gaussian(random, N, D, 2), s = gaussian(random, N, D, 2);
        INDArray mask = mask(maskKind);
        double weight = 0.3;
        double[] expected = new double[N];
        for (int i = 0; i < N; i++) {
            for (int d = 0; d < D; d++) {
                double m = mask == null ? 1 : mask.getDouble(i, mask.columns() == 1 ? 0 : d);
                expected[i] += weight * m * (s[i][d] - t[i][d]) * (s[i][d] - t[i][d]) / D;
            }
        }
        HintLoss loss = new HintLoss(weight);
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        INDArray scores = loss.computeScoreArray(array(t), array(s), identity, mask);
        assertArrayEquals(new long[] {N, 1}, scores.shape());
        assertArrayEquals(expected, scores.reshape(N).toDoubleVector(), 1e-12);
        double sum = java.util.Arrays.stream(expected).sum();
        assertEquals(sum, loss.computeScore(array(t), array(s), identity, mask, false), 1e-12);
        assertEquals(sum / N, loss.computeScore(array(t), array(s), identity, mask, true), 1e-12);
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "example", "output01", "weighted"})
    void gradientMatchesFiniteDifferences(String maskKind) {
        Random random = new Random(2);
        INDArray t = array(gaussian(random, N, D, 2)), s = array(gaussian(random, N, D, 2));
        HintLoss loss = new HintLoss(1.7);
        INDArray mask = mask(maskKind);
        for (Activation a : new Activation[] {Activation.IDENTITY, Activation.TANH, Activation.SOFTMAX}) {
            IActivation act = a.getActivationFunction();
            INDArray sBefore = s.dup(), tBefore = t.dup();
            INDArray grad = loss.computeGradient(t, s, act, mask);
            loss.computeScoreArray(t, s, act, mask);
            assertEquals(sBefore, s, "preOutput untouched");
            assertEquals(tBefore, t, "labels untouched");
            assertArrayEquals(new long[] {N, D}, grad.shape());
            double err = maxRelativeError(loss, t, s, act, mask, grad);
            assertTrue(err < 1e-6, maskKind + ", " + a + ": max relative error " + err);
            double wrong = maxRelativeError(loss, t, s, act, mask, grad.mul(1.001));
            assertTrue(wrong > 1e-6, "the check must catch a 0.1% error, got " + wrong);
        }
    }

    @Test
    void agreesWithDl4jMseAtWeightOne() {
        Random random = new Random(3);
        INDArray t = array(gaussian(random, N, D, 2)), s = array(gaussian(random, N, D, 2));
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        for (String kind : new String[] {"none", "example", "output01"}) {
            INDArray mask = mask(kind);
            HintLoss hint = new HintLoss();
            assertTrue(new LossMSE().computeScoreArray(t, s.dup(), identity, mask)
                    .equalsWithEps(hint.computeScoreArray(t, s, identity, mask), 1e-12), kind);
            assertTrue(new LossMSE().computeGradient(t, s.dup(), identity, mask)
                    .equalsWithEps(hint.computeGradient(t, s, identity, mask), 1e-12), kind);
        }
    }

    @Test
    void argumentsAndValueSemantics() {
        assertThrows(IllegalArgumentException.class, () -> new HintLoss(-1));
        assertThrows(IllegalArgumentException.class, () -> new HintLoss(Double.NaN));
        assertEquals(1.0, new HintLoss().getWeight());
        assertEquals(new HintLoss(0.5), new HintLoss(0.5));
        assertEquals(new HintLoss(0.5).hashCode(), new HintLoss(0.5).hashCode());
        assertTrue(!new HintLoss(0.5).equals(new HintLoss(0.25)));
        assertEquals("HintLoss(weight=0.5)", new HintLoss(0.5).name());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new HintLoss().computeScoreArray(
                Nd4j.zeros(2, 3), Nd4j.zeros(2, 4), Activation.IDENTITY.getActivationFunction(), null));
        assertTrue(e.getMessage().startsWith("HintLoss:"), e.getMessage());
    }
}
