package io.distillery.train;

import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import io.distillery.table.Json;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Per-epoch checkpoints (model with updater state, so Adam resumes where it stopped) and the
 * metrics log, kept in a training output's staging directory through Hadoop's FileSystem API so
 * they survive a driver on another machine.
 */
public final class Checkpoints {
    public static final String DIR = "checkpoints";
    public static final String METRICS = "metrics.jsonl";
    private static final int KEEP = 2;

    private final Storage storage;
    private final String root;

    public Checkpoints(Storage storage, String root) {
        this.storage = storage;
        this.root = root;
    }

    public record Restored(ComputationGraph graph, int epoch, List<EpochMetrics> metrics) {
    }

    /**
     * Writes the epoch's checkpoint, then the metrics (so every epoch in the metrics has had a
     * checkpoint), then prunes: the last {@value #KEEP} stay, and so does the best epoch by
     * validation accuracy, which training may select as its result.
     */
    public void save(ComputationGraph graph, int epoch, List<EpochMetrics> metrics) {
        String dir = Storage.join(root, DIR);
        Models.write(storage, Storage.join(dir, name(epoch)), graph, true);
        writeMetrics(metrics);
        List<String> existing = checkpointNames();
        String best = name(bestEpoch(metrics));
        for (int i = 0; i < existing.size() - KEEP; i++) {
            if (!existing.get(i).equals(best)) {
                storage.delete(Storage.join(dir, existing.get(i)));
            }
        }
    }

    /** The epoch with the highest validation accuracy (the earliest among ties); 0 when there is none. */
    public static int bestEpoch(List<EpochMetrics> metrics) {
        int best = 0;
        double accuracy = Double.NEGATIVE_INFINITY;
        for (EpochMetrics m : metrics) {
            if (m.validationAccuracy() > accuracy) {
                accuracy = m.validationAccuracy();
                best = m.epoch();
            }
        }
        return best;
    }

    /** The checkpoint of one epoch, with its updater state. */
    public ComputationGraph load(int epoch) {
        return Models.read(storage, Storage.join(root, DIR, name(epoch)), true);
    }

    public void writeMetrics(List<EpochMetrics> metrics) {
        StringBuilder b = new StringBuilder();
        for (EpochMetrics m : metrics) {
            b.append(Json.line(m)).append('\n');
        }
        storage.writeString(Storage.join(root, METRICS), b.toString());
    }

    /** The newest checkpoint and the metrics of the epochs it includes, if any. */
    public Optional<Restored> latest() {
        List<String> names = checkpointNames();
        if (names.isEmpty()) {
            return Optional.empty();
        }
        String last = names.get(names.size() - 1);
        int epoch = Integer.parseInt(last.substring("epoch-".length(), last.length() - ".zip".length()));
        ComputationGraph graph = Models.read(storage, Storage.join(root, DIR, last), true);
        List<EpochMetrics> metrics = new ArrayList<>(readMetrics(storage, root));
        metrics.removeIf(m -> m.epoch() > epoch);
        return Optional.of(new Restored(graph, epoch, metrics));
    }

    public static List<EpochMetrics> readMetrics(Storage storage, String dir) {
        String path = Storage.join(dir, METRICS);
        List<EpochMetrics> metrics = new ArrayList<>();
        if (!storage.exists(path)) {
            return metrics;
        }
        for (String line : storage.readString(path).split("\n")) {
            if (!line.isBlank()) {
                metrics.add(Json.read(line, EpochMetrics.class, path));
            }
        }
        return metrics;
    }

    private List<String> checkpointNames() {
        List<String> names = new ArrayList<>(storage.list(Storage.join(root, DIR)));
        names.removeIf(n -> !n.matches("epoch-\\d{4}\\.zip"));
        return names;
    }

    private static String name(int epoch) {
        return String.format("epoch-%04d.zip", epoch);
    }
}
