package io.distillery.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** {@link AdversarialLoss} on its own: values against a textbook BCE, gradient against finite differences. */
@ExtendWith(DoublePrecision.class)
class AdversarialLossTest {
    private static final IActivation IDENTITY = Activation.IDENTITY.getActivationFunction();
    private static final double TOLERANCE = 1e-6;

    private static double sigmoid(double d) {
        return 1 / (1 + Math.exp(-d));
    }

    /** −[t log σ(d) + (1 − t) log(1 − σ(d))], written the naive way on purpose. */
    private static double bce(double d, double t) {
        return -(t * Math.log(sigmoid(d)) + (1 - t) * Math.log(1 - sigmoid(d)));
    }

    private static INDArray dummyLabels(long rows) {
        return Nd4j.zeros(DataType.DOUBLE, rows, 1);
    }

    @Test
    void scoreIsWeightedBceWithFakeTargetZeroAndSmoothedRealTarget() {
        double[][] d = {{0.3, -1.2}, {2.0, 0.5}, {-0.7, 1.1}};
        AdversarialLoss loss = new AdversarialLoss(0.7, 0.9);
        INDArray pairs = FiniteDifferences.array(d);

        double[] perExample = new double[d.length];
        double sum = 0;
        for (int i = 0; i < d.length; i++) {
            perExample[i] = 0.7 * (bce(d[i][0], 0) + bce(d[i][1], 0.9));
            sum += perExample[i];
        }
        assertEquals(sum, loss.computeScore(dummyLabels(3), pairs, IDENTITY, null, false), 1e-12);
        assertEquals(sum / 3, loss.computeScore(dummyLabels(3), pairs, IDENTITY, null, true), 1e-12);
        INDArray scoreArray = loss.computeScoreArray(dummyLabels(3), pairs, IDENTITY, null);
        assertArrayEquals(new long[] {3, 1}, scoreArray.shape());
        assertArrayEquals(perExample, scoreArray.toDoubleVector(), 1e-12);
    }

    @Test
    void gradientIsWeightTimesSigmoidMinusTarget() {
        double[][] d = {{0.3, -1.2}, {2.0, 0.5}};
        INDArray gradient = new AdversarialLoss(0.5, 0.8).computeGradient(dummyLabels(2), FiniteDifferences.array(d),
                IDENTITY, null);
        assertArrayEquals(new long[] {2, 2}, gradient.shape());
        for (int i = 0; i < 2; i++) {
            assertEquals(0.5 * sigmoid(d[i][0]), gradient.getDouble(i, 0), 1e-12);
            assertEquals(0.5 * (sigmoid(d[i][1]) - 0.8), gradient.getDouble(i, 1), 1e-12);
        }
    }

    @Test
    void labelValuesAreIgnored() {
        INDArray pairs = Nd4j.randn(DataType.DOUBLE, 4, 2);
        AdversarialLoss loss = new AdversarialLoss();
        double score = loss.computeScore(dummyLabels(4), pairs, IDENTITY, null, false);
        INDArray otherLabels = Nd4j.rand(DataType.DOUBLE, 4, 3);
        assertEquals(score, loss.computeScore(otherLabels, pairs, IDENTITY, null, false), 0);
        assertEquals(loss.computeGradient(dummyLabels(4), pairs, IDENTITY, null),
                loss.computeGradient(otherLabels, pairs, IDENTITY, null));
    }

    @Test
    void largeLogitsStayFinite() {
        INDArray pairs = FiniteDifferences.array(new double[][] {{800, -800}, {-800, 800}});
        AdversarialLoss loss = new AdversarialLoss(1, 0.9);
        // a confidently wrong D: softplus(800) = 800 for the fake, softplus(−800) + 0.9·800 = 720 for the real
        double[] perExample = loss.computeScoreArray(dummyLabels(2), pairs, IDENTITY, null).toDoubleVector();
        assertEquals(800 + 720, perExample[0], 1e-9);
        // a confidently right D: 0 for the fake, softplus(800) − 0.9·800 = 80 for the over-confident real
        assertEquals(80, perExample[1], 1e-9);
        INDArray gradient = loss.computeGradient(dummyLabels(2), pairs, IDENTITY, null);
        assertArrayEquals(new double[] {1, -0.9, 0, 0.1}, gradient.reshape(4).toDoubleVector(), 1e-12);
    }

    private static double maxRelativeError(AdversarialLoss loss, IActivation activation, INDArray mask, double factor) {
        Random random = new Random(11);
        INDArray pairs = FiniteDifferences.array(FiniteDifferences.gaussian(random, 5, 2, 3));
        INDArray gradient = loss.computeGradient(dummyLabels(5), pairs, activation, mask).muli(factor);
        return FiniteDifferences.maxRelativeError(loss, dummyLabels(5), pairs, activation, mask, gradient);
    }

    @Test
    void gradientMatchesFiniteDifferences() {
        AdversarialLoss loss = new AdversarialLoss(0.7, 0.9);
        assertTrue(maxRelativeError(loss, IDENTITY, null, 1) < TOLERANCE);
        assertTrue(maxRelativeError(new AdversarialLoss(2, 1), IDENTITY, null, 1) < TOLERANCE);
        assertTrue(maxRelativeError(loss, Activation.TANH.getActivationFunction(), null, 1) < TOLERANCE);
        INDArray perExample = FiniteDifferences.array(new double[][] {{1}, {0}, {0.5}, {1}, {2}});
        assertTrue(maxRelativeError(loss, IDENTITY, perExample, 1) < TOLERANCE);
        INDArray perLogit = FiniteDifferences.array(new double[][] {{1, 0}, {0, 1}, {0.5, 1}, {1, 1}, {0, 0}});
        assertTrue(maxRelativeError(loss, IDENTITY, perLogit, 1) < TOLERANCE);
    }

    @Test
    void finiteDifferencesCatchAWrongGradient() {
        AdversarialLoss loss = new AdversarialLoss(0.7, 0.9);
        assertTrue(maxRelativeError(loss, IDENTITY, null, 1.1) > 0.05, "10% too large");
        assertTrue(maxRelativeError(loss, IDENTITY, null, -1) > 1, "sign flipped");
    }

    @Test
    void masksWeightExamplesOrLogits() {
        INDArray pairs = Nd4j.randn(DataType.DOUBLE, 3, 2);
        AdversarialLoss loss = new AdversarialLoss();
        double[] full = loss.computeScoreArray(dummyLabels(3), pairs, IDENTITY, null).toDoubleVector();
        INDArray perExample = FiniteDifferences.array(new double[][] {{1}, {0}, {2}});
        assertArrayEquals(new double[] {full[0], 0, 2 * full[2]},
                loss.computeScoreArray(dummyLabels(3), pairs, IDENTITY, perExample).toDoubleVector(), 1e-12);
        INDArray onlyFake = FiniteDifferences.array(new double[][] {{1, 0}, {1, 0}, {1, 0}});
        INDArray gradient = loss.computeGradient(dummyLabels(3), pairs, IDENTITY, onlyFake);
        assertEquals(0, gradient.getColumn(1).norm1Number().doubleValue());
        assertTrue(gradient.getColumn(0).norm1Number().doubleValue() > 0);
    }

    @Test
    void rejectsWrongShapes() {
        AdversarialLoss loss = new AdversarialLoss();
        INDArray stacked = Nd4j.randn(DataType.DOUBLE, 6, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> loss.computeScore(dummyLabels(3), stacked, IDENTITY, null, true));
        assertTrue(e.getMessage().contains("halvesToColumns"), e.getMessage());
        INDArray pairs = Nd4j.randn(DataType.DOUBLE, 3, 2);
        assertThrows(IllegalArgumentException.class, () -> loss.computeGradient(dummyLabels(6), pairs, IDENTITY, null));
        assertThrows(IllegalArgumentException.class,
                () -> loss.computeGradient(dummyLabels(3), pairs, IDENTITY, Nd4j.ones(DataType.DOUBLE, 3, 3)));
        assertThrows(IllegalArgumentException.class, () -> new AdversarialLoss(-1, 0.9));
        assertThrows(IllegalArgumentException.class, () -> new AdversarialLoss(1, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdversarialLoss(1, 1.1));
        assertThrows(IllegalArgumentException.class, () -> new AdversarialLoss(Double.NaN, 0.9));
    }

    @Test
    void discriminatorAccuracyCountsFakeBelowZeroAndRealAboveZero() {
        // fakes: right, wrong, right; reals: right, wrong, right → 4 of 6
        INDArray pairs = FiniteDifferences.array(new double[][] {{-1, 1}, {2, -1}, {-3, 0.5}});
        assertEquals(4 / 6.0, AdversarialLoss.discriminatorAccuracy(pairs), 1e-12);
        INDArray stacked = FiniteDifferences.array(new double[][] {{-1}, {2}, {-3}, {1}, {-1}, {0.5}});
        assertEquals(4 / 6.0, AdversarialLoss.discriminatorAccuracy(stacked), 1e-12);
        assertEquals(1.0, AdversarialLoss.discriminatorAccuracy(FiniteDifferences.array(new double[][] {{-1, 1}})));
        assertEquals(0.0, AdversarialLoss.discriminatorAccuracy(FiniteDifferences.array(new double[][] {{0, 0}})));
        assertThrows(IllegalArgumentException.class,
                () -> AdversarialLoss.discriminatorAccuracy(Nd4j.zeros(DataType.DOUBLE, 3, 1)));
        assertThrows(IllegalArgumentException.class,
                () -> AdversarialLoss.discriminatorAccuracy(Nd4j.zeros(DataType.DOUBLE, 2, 3)));
    }

    @Test
    void equalityAndJavaSerialization() throws Exception {
        AdversarialLoss loss = new AdversarialLoss(0.1, 0.85);
        assertEquals(new AdversarialLoss(0.1, 0.85), loss);
        assertEquals(new AdversarialLoss(0.1, 0.85).hashCode(), loss.hashCode());
        assertNotEquals(new AdversarialLoss(0.1, 0.9), loss);
        assertNotEquals(new AdversarialLoss(0.2, 0.85), loss);
        assertEquals(new AdversarialLoss(1, 0.9), new AdversarialLoss());
        assertEquals("AdversarialLoss(weight=0.1, realLabel=0.85)", loss.toString());

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(loss);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(loss, in.readObject());
        }
    }
}
