package io.distillery.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;
import org.nd4j.linalg.activations.impl.ActivationSoftmax;

/** A scaled loss is its inner loss times the factor, in score and gradient, and survives JSON. */
@ExtendWith(DoublePrecision.class)
class ScaledLossTest {

    @Test
    void gradientMatchesFiniteDifferencesOfTheScaledScore() {
        Random random = new Random(3);
        INDArray teacher = FiniteDifferences.array(FiniteDifferences.gaussian(random, 4, 5, 2));
        INDArray student = FiniteDifferences.array(FiniteDifferences.gaussian(random, 4, 5, 2));
        ScaledLoss loss = new ScaledLoss(new KnowledgeDistillationLoss(3.0, 1.0), 0.3);
        INDArray gradient = loss.computeGradient(teacher, student, new ActivationIdentity(), null);
        assertTrue(FiniteDifferences.maxRelativeError(loss, teacher, student, new ActivationIdentity(), null, gradient) < 1e-5);
        // Negative control: the inner loss's unscaled gradient fails the same check.
        INDArray unscaled = loss.getLoss().computeGradient(teacher, student, new ActivationIdentity(), null);
        assertTrue(FiniteDifferences.maxRelativeError(loss, teacher, student, new ActivationIdentity(), null, unscaled) > 0.5);
    }

    @Test
    void scoreIsTheFactorTimesTheInnerScoreAlsoForDl4jLosses() {
        Random random = new Random(4);
        INDArray labels = FiniteDifferences.array(new double[][]{{0, 1, 0}, {1, 0, 0}});
        INDArray logits = FiniteDifferences.array(FiniteDifferences.gaussian(random, 2, 3, 1));
        ILossFunction inner = new LossMCXENT();
        ScaledLoss loss = new ScaledLoss(inner, 2.5);
        double expected = 2.5 * inner.computeScore(labels, logits.dup(), new ActivationSoftmax(), null, true);
        assertEquals(expected, loss.computeScore(labels, logits.dup(), new ActivationSoftmax(), null, true), 1e-12);
        assertEquals(2.5 * inner.computeScoreArray(labels, logits.dup(), new ActivationSoftmax(), null).sumNumber().doubleValue(),
                loss.computeScoreArray(labels, logits.dup(), new ActivationSoftmax(), null).sumNumber().doubleValue(), 1e-12);
    }

    @Test
    void jsonRoundTripAndGuards() throws Exception {
        ScaledLoss loss = new ScaledLoss(new HintLoss(0.5), 0.75);
        var mapper = org.nd4j.serde.json.JsonMappers.getMapper();
        String json = mapper.writeValueAsString(loss);
        assertEquals(loss, mapper.readValue(json, ILossFunction.class));
        assertThrows(IllegalArgumentException.class, () -> new ScaledLoss(loss, 2));
        assertThrows(IllegalArgumentException.class, () -> new ScaledLoss(new HintLoss(), -1));
    }
}
