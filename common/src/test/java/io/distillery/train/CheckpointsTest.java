package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.model.ModelZoo;
import io.distillery.runtime.Storage;
import io.distillery.table.Json;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/** Per-epoch checkpoints with updater state, retention of the last two, and the metrics log. */
class CheckpointsTest {
    @TempDir
    Path dir;
    private final Storage storage = Storage.local();

    private static ComputationGraph tinyModel() {
        TrainSettings train = new TrainSettings(3, 4, 0.01, "constant", 0, 0, 1, 7);
        ComputationGraph g = new ComputationGraph(ModelZoo.classifier(new ModelSpec("cnn", List.of(2), List.of(1)),
                new ImageShape(4, 4, 1), 3, train));
        g.init();
        return g;
    }

    private static void fitOnce(ComputationGraph g) {
        INDArray labels = Nd4j.zeros(4, 3);
        for (int i = 0; i < 4; i++) {
            labels.putScalar(i, i % 3, 1);
        }
        g.fit(new MultiDataSet(Nd4j.rand(4, 1, 4, 4), labels));
    }

    private static EpochMetrics metrics(int epoch) {
        return new EpochMetrics(epoch, 1.5 * epoch, 2.0 / epoch, Map.of("output", 0.25 * epoch, "kd", 0.5), 0.1 * epoch, 100L * epoch, epoch);
    }

    /** Trains three "epochs", checkpointing after each; returns the graph in its final state. */
    private ComputationGraph trainThreeEpochs(Checkpoints checkpoints) {
        ComputationGraph g = tinyModel();
        List<EpochMetrics> log = new ArrayList<>();
        for (int epoch = 1; epoch <= 3; epoch++) {
            fitOnce(g);
            log.add(metrics(epoch));
            checkpoints.save(g, epoch, log);
        }
        return g;
    }

    @Test
    void keepsTheLastTwoCheckpoints() {
        String root = dir.toString();
        trainThreeEpochs(new Checkpoints(storage, root));
        List<String> files = storage.list(Storage.join(root, Checkpoints.DIR)).stream()
                .filter(n -> !n.startsWith(".")) // Hadoop's local checksum files
                .toList();
        assertEquals(List.of("epoch-0002.zip", "epoch-0003.zip"), files);
    }

    @Test
    void latestRestoresParametersUpdaterStateAndMetrics() {
        String root = dir.toString();
        Checkpoints checkpoints = new Checkpoints(storage, root);
        assertTrue(checkpoints.latest().isEmpty());
        ComputationGraph trained = trainThreeEpochs(checkpoints);
        // A crash after epoch 4's metrics were logged but before its checkpoint: the log runs ahead.
        checkpoints.writeMetrics(List.of(metrics(1), metrics(2), metrics(3), metrics(4)));

        Checkpoints.Restored restored = checkpoints.latest().orElseThrow();
        assertEquals(3, restored.epoch());
        assertEquals(List.of(metrics(1), metrics(2), metrics(3)), restored.metrics());
        assertEquals(trained.params(), restored.graph().params());
        INDArray state = trained.getUpdater().getStateViewArray();
        assertTrue(state.amaxNumber().doubleValue() > 0, "Adam has moments after fitting");
        assertEquals(state, restored.graph().getUpdater().getStateViewArray());
    }

    @Test
    void metricsAreJsonLinesWithSnakeCaseKeys() {
        String root = dir.toString();
        trainThreeEpochs(new Checkpoints(storage, root));
        String[] lines = storage.readString(Storage.join(root, Checkpoints.METRICS)).split("\n");
        assertEquals(3, lines.length);
        for (int i = 0; i < lines.length; i++) {
            JsonNode json = Json.tree(lines[i]);
            assertEquals(i + 1, json.get("epoch").asInt());
            for (String key : List.of("seconds", "train_score", "loss", "validation_accuracy", "examples", "averaging_rounds")) {
                assertTrue(json.has(key), key + " in " + lines[i]);
            }
            assertFalse(json.has("trainScore") || json.has("validationAccuracy") || json.has("averagingRounds"), lines[i]);
            assertEquals(0.5, json.get("loss").get("kd").asDouble());
        }
        assertEquals(List.of(metrics(1), metrics(2), metrics(3)), Checkpoints.readMetrics(storage, root));
    }
}
