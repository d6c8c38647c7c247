package io.distillery.loss;

import static io.distillery.loss.FiniteDifferences.array;
import static io.distillery.loss.FiniteDifferences.gaussian;
import static io.distillery.loss.FiniteDifferences.maxRelativeError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * {@link BatchStatsLoss}: the value against a hand computation of the batch statistics of a
 * [B, C, H, W] map flattened channel-major, and the gradient (of the per-example sum B·L, DL4J's
 * convention) against central differences, with a 0.1% error as the negative control.
 */
@ExtendWith(DoublePrecision.class)
class BatchStatsLossTest {
    private static final int B = 5, C = 3, HW = 4;
    private static final double[] MEAN = {0.2, -0.1, 0.5}, VAR = {1.5, 0.7, 2.0};

    @Test
    void scoreIsTheNormOfTheStatisticGapsPerBatch() {
        double[][] x = gaussian(new Random(1), B, C * HW, 1.3);
        double expected = 0, meanGap = 0, varGap = 0;
        for (int c = 0; c < C; c++) {
            double sum = 0, sq = 0;
            for (double[] row : x) {
                for (int p = 0; p < HW; p++) {
                    sum += row[c * HW + p];
                }
            }
            double mu = sum / (B * HW);
            for (double[] row : x) {
                for (int p = 0; p < HW; p++) {
                    sq += (row[c * HW + p] - mu) * (row[c * HW + p] - mu);
                }
            }
            double var = sq / (B * HW); // biased, as batch norm normalises with
            meanGap += (mu - MEAN[c]) * (mu - MEAN[c]);
            varGap += (var - VAR[c]) * (var - VAR[c]);
        }
        expected = 0.7 * (Math.sqrt(meanGap) + Math.sqrt(varGap));
        BatchStatsLoss loss = new BatchStatsLoss(0.7, MEAN, VAR);
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        INDArray labels = Nd4j.zeros(B, 1);
        INDArray scores = loss.computeScoreArray(labels, array(x), identity, null);
        assertArrayEquals(new long[] {B, 1}, scores.shape());
        for (int i = 0; i < B; i++) {
            assertEquals(expected, scores.getDouble(i, 0), 1e-12, "every example carries the batch's loss");
        }
        assertEquals(expected, loss.computeScore(labels, array(x), identity, null, true), 1e-12, "the averaged score is L");
        assertEquals(B * expected, loss.computeScore(labels, array(x), identity, null, false), 1e-12);
        assertEquals(0, new BatchStatsLoss(0, MEAN, VAR).computeScore(labels, array(x), identity, null, true));
    }

    @Test
    void gradientOfThePerExampleSumMatchesFiniteDifferences() {
        Random random = new Random(2);
        INDArray labels = Nd4j.zeros(B, 1);
        for (Activation a : new Activation[] {Activation.IDENTITY, Activation.TANH}) {
            IActivation act = a.getActivationFunction();
            INDArray x = array(gaussian(random, B, C * HW, 1.5));
            BatchStatsLoss loss = new BatchStatsLoss(0.9, MEAN, VAR);
            INDArray before = x.dup();
            INDArray grad = loss.computeGradient(labels, x, act, null);
            assertEquals(before, x, "preOutput untouched");
            assertArrayEquals(x.shape(), grad.shape());
            double err = maxRelativeError(loss, labels, x, act, null, grad);
            assertTrue(err < 1e-6, a + ": max relative error " + err);
            double wrong = maxRelativeError(loss, labels, x, act, null, grad.mul(1.001));
            assertTrue(wrong > 1e-6, "the check must catch a 0.1% error, got " + wrong);
            double perMean = maxRelativeError(loss, labels, x, act, null, grad.div(B));
            assertTrue(perMean > 0.5, "the gradient is of the sum B·L, not of L: " + perMean);
        }
    }

    @Test
    void feedForwardBatchNormInputHasOnePositionPerChannel() {
        INDArray x = array(gaussian(new Random(3), B, C, 1));
        BatchStatsLoss loss = new BatchStatsLoss(1, MEAN, VAR);
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        INDArray grad = loss.computeGradient(Nd4j.zeros(B, 1), x, identity, null);
        assertTrue(maxRelativeError(loss, Nd4j.zeros(B, 1), x, identity, null, grad) < 1e-6);
    }

    @Test
    void argumentsAndValueSemantics() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> new BatchStatsLoss(-1, MEAN, VAR));
        assertThrows(IllegalArgumentException.class, () -> new BatchStatsLoss(1, MEAN, new double[] {1}));
        assertThrows(IllegalArgumentException.class, () -> new BatchStatsLoss(1, new double[0], new double[0]));
        BatchStatsLoss loss = new BatchStatsLoss(0.5, MEAN, VAR);
        IActivation identity = Activation.IDENTITY.getActivationFunction();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> loss.computeScoreArray(Nd4j.zeros(B, 1), Nd4j.zeros(B, 7), identity, null));
        assertTrue(e.getMessage().startsWith("BatchStatsLoss:"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> loss.computeScoreArray(Nd4j.zeros(B, 1), Nd4j.zeros(B, 6), identity, Nd4j.ones(B, 1)));
        assertEquals(loss, new BatchStatsLoss(0.5, MEAN.clone(), VAR.clone()));
        assertEquals(loss.hashCode(), new BatchStatsLoss(0.5, MEAN, VAR).hashCode());
        assertNotEquals(loss, loss.withWeight(0.25));
        // Spark ships the graph configuration as JSON: the loss must round-trip.
        ObjectMapper json = org.deeplearning4j.nn.conf.NeuralNetConfiguration.mapper();
        assertEquals(loss, json.readValue(json.writeValueAsString(loss), ILossFunction.class));
    }
}
