package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.loss.KnowledgeDistillationLoss;
import io.distillery.loss.ScaledLoss;
import io.distillery.method.HintonKd;
import io.distillery.method.StudentGraphs;
import io.distillery.method.TeacherOutputs;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/** Per-epoch head weights: the multiplier rule, and what a schedule does to the graph's configuration and score. */
class HeadScheduleTest {
    private static final TrainSettings TRAIN = new TrainSettings(1, 8, 0.001, "constant", 0, 0, 1, 7);

    private static ComputationGraph student() {
        var logits = new ColumnSpec(TeacherOutputsTable.LOGITS, "binary", "float32-le", List.of(10), "K", null, "logits");
        var teacher = new TeacherOutputs("t", new Manifest(TeacherOutputsTable.KIND, Manifest.FORMAT_VERSION, 1, "h", List.of(logits), Map.of(), null));
        List<io.distillery.method.DistillationMethod> methods = List.of(new io.distillery.method.LabelCrossEntropy(1.0, 10), new HintonKd(1.0, 4.0, 10));
        return StudentGraphs.build(new ModelSpec("cnn", List.of(4), List.of(1)), new ImageShape(8, 8, 1), 10, TRAIN, methods, teacher)
                .newGraph();
    }

    private static ILossFunction kdLoss(ComputationGraphConfiguration conf) {
        return ((LossLayer) ((LayerVertex) conf.getVertices().get(HintonKd.HEAD)).getLayerConf().getLayer()).getLossFn();
    }

    @Test
    void lastMultiplierHoldsAndUnscheduledHeadsKeepTheirWeight() {
        HeadSchedule s = new HeadSchedule(Map.of("kd", List.of(0.0, 0.5)));
        assertEquals(0.0, s.multiplier("kd", 0));
        assertEquals(0.5, s.multiplier("kd", 1));
        assertEquals(0.5, s.multiplier("kd", 9));
        assertEquals(1.0, s.multiplier("output", 0));
    }

    @Test
    void applyScalesTheHeadInTheConfigurationThatWorkersReceive() {
        ComputationGraph g = student();
        HeadSchedule s = new HeadSchedule(Map.of(HintonKd.HEAD, List.of(0.25, 1.0)));
        s.apply(g, 0);
        ComputationGraphConfiguration fromJson = ComputationGraphConfiguration.fromJson(g.getConfiguration().toJson());
        ScaledLoss scaled = assertInstanceOf(ScaledLoss.class, kdLoss(fromJson));
        assertEquals(0.25, scaled.getFactor());
        assertInstanceOf(KnowledgeDistillationLoss.class, scaled.getLoss());
        // Applying again does not stack factors, and a multiplier of 1 restores the plain loss.
        s.apply(g, 0);
        assertEquals(0.25, ((ScaledLoss) kdLoss(g.getConfiguration())).getFactor());
        s.apply(g, 1);
        assertInstanceOf(KnowledgeDistillationLoss.class, kdLoss(g.getConfiguration()));
    }

    @Test
    void theScheduledHeadContributesItsMultipleOfTheScore() {
        ComputationGraph g = student();
        Nd4j.getRandom().setSeed(1);
        MultiDataSet batch = new MultiDataSet(new INDArray[]{Nd4j.rand(4, 1, 8, 8)},
                new INDArray[]{Nd4j.eye(10).getRows(0, 1, 2, 3), Nd4j.randn(4, 10).muli(3)});
        double[] scores = new double[3];
        for (int m = 0; m < 3; m++) {
            new HeadSchedule(Map.of(HintonKd.HEAD, List.of((double) m))).apply(g, 0);
            scores[m] = g.score(batch);
        }
        double kd = scores[1] - scores[0];
        assertEquals(2 * kd, scores[2] - scores[0], 1e-5 * Math.abs(kd));
        assertEquals(true, kd > 0);
    }
}
