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

    public void save(ComputationGraph graph, int epoch, List<EpochMetrics> metrics) {
        String dir = Storage.join(root, DIR);
        Models.write(storage, Storage.join(dir, name(epoch)), graph, true);
        writeMetrics(metrics);
        List<String> existing = checkpointNames();
        for (int i = 0; i < existing.size() - KEEP; i++) {
            storage.delete(Storage.join(dir, existing.get(i)));
        }
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
