package io.distillery.loss;

import static io.distillery.loss.AdversarialGraphs.CHANNELS;
import static io.distillery.loss.AdversarialGraphs.GRL;
import static io.distillery.loss.AdversarialGraphs.LOGIT;
import static io.distillery.loss.AdversarialGraphs.SIZE;
import static io.distillery.loss.AdversarialGraphs.STUDENT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.layer.GradientReversal;
import java.util.Map;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * The adversarial sub-graph trained by plain {@code fit} in float32, as the trainer will: first D
 * alone (λ = 0 blocks the student's gradient), which must learn to tell fixed teacher maps (mean
 * {@value #REAL_MEAN}) from the untrained student's maps; then with the reversal on (λ = 1), where
 * the student must move its maps towards the teacher's and D's accuracy must fall.
 */
class AdversarialTrainingTest {
    private static final int BATCH = 32, D_STEPS = 80, GAME_STEPS = 150;
    private static final double REAL_MEAN = 0.6;

    private record Stats(double accuracy, double meanGap) {}

    private static Stats stats(ComputationGraph graph, MultiDataSet data) {
        Map<String, INDArray> activations = graph.feedForward(data.getFeatures(), false);
        double accuracy = AdversarialLoss.discriminatorAccuracy(activations.get(LOGIT));
        double meanGap = Math.abs(activations.get(STUDENT).meanNumber().doubleValue()
                - data.getFeatures(1).meanNumber().doubleValue());
        return new Stats(accuracy, meanGap);
    }

    @Test
    void discriminatorLearnsThenTheStudentFoolsIt() {
        Nd4j.getRandom().setSeed(21);
        INDArray noise = Nd4j.randn(DataType.FLOAT, BATCH, CHANNELS, SIZE, SIZE);
        INDArray teacher = Nd4j.randn(DataType.FLOAT, BATCH, CHANNELS, SIZE, SIZE).muli(0.5).addi(REAL_MEAN);
        MultiDataSet data = new MultiDataSet(new INDArray[] {noise, teacher},
                new INDArray[] {Nd4j.zeros(DataType.FLOAT, BATCH, 1)});
        ComputationGraph graph = AdversarialGraphs.init(AdversarialGraphs.subGraph(0, new AdversarialLoss(1, 0.9),
                DataType.FLOAT, new Adam(0.01), WorkspaceMode.ENABLED, true));

        assertEquals(0.5, stats(graph, data).accuracy(), 0.2, "an untrained D guesses");
        INDArray student = graph.getLayer(STUDENT).params().dup();
        for (int i = 0; i < D_STEPS; i++) {
            graph.fit(data);
        }
        Stats discriminatorOnly = stats(graph, data);
        assertEquals(student, graph.getLayer(STUDENT).params(), "lambda = 0: the student does not move");
        assertTrue(discriminatorOnly.accuracy() > 0.9, "D alone separates the maps: " + discriminatorOnly);

        GradientReversal.setLambda(graph, GRL, 1);
        for (int i = 0; i < GAME_STEPS; i++) {
            graph.fit(data);
        }
        Stats game = stats(graph, data);
        assertTrue(game.meanGap() < discriminatorOnly.meanGap() / 2, // seen: 0.63 → 0.07
                "the student moves towards the teacher: " + game);
        assertTrue(game.accuracy() < 0.9, "D is fooled more often: " + game); // seen: 0.98 → 0.80
    }
}
