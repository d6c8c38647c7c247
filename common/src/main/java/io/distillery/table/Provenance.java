package io.distillery.table;

import com.fasterxml.jackson.databind.JsonNode;
import io.distillery.runtime.BuildInfo;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where an artifact came from: the stage, the configuration that shaped it, the hashes of its
 * inputs, the code version and the time. Two artifacts are the same work when stage, config and
 * inputs agree; code version and time are recorded but not compared, so a rebuild does not discard
 * a finished table.
 */
public record Provenance(String stage, JsonNode config, Map<String, String> inputs, String codeVersion, String createdAt) {

    public static Provenance of(String stage, String configJson, Map<String, String> inputs) {
        return new Provenance(stage, Json.tree(configJson), new TreeMap<>(inputs), BuildInfo.version(), Instant.now().toString());
    }

    public boolean sameWork(Provenance other) {
        return other != null && stage.equals(other.stage) && config.equals(other.config) && inputs.equals(other.inputs);
    }

    /** Which parts differ, for the "refusing to overwrite" message. */
    public List<String> differences(Provenance other) {
        List<String> diff = new ArrayList<>();
        if (other == null) {
            diff.add("no provenance");
            return diff;
        }
        if (!stage.equals(other.stage)) {
            diff.add("stage " + other.stage + " -> " + stage);
        }
        if (!config.equals(other.config)) {
            config.fieldNames().forEachRemaining(k -> {
                if (!config.get(k).equals(other.config.get(k))) {
                    diff.add("config " + k);
                }
            });
            if (diff.isEmpty() || !diff.get(diff.size() - 1).startsWith("config")) {
                diff.add("config");
            }
        }
        for (String k : new java.util.TreeSet<>(inputs.keySet())) {
            if (!inputs.get(k).equals(other.inputs.get(k))) {
                diff.add("input " + k);
            }
        }
        for (String k : other.inputs.keySet()) {
            if (!inputs.containsKey(k)) {
                diff.add("input " + k);
            }
        }
        return diff;
    }
}
