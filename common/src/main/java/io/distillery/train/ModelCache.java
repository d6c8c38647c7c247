package io.distillery.train;

import io.distillery.model.Models;
import io.distillery.runtime.Nd4jRuntime;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * One deserialized model per executor thread and broadcast: tasks of the same stage reuse it
 * instead of unzipping the model for every partition, and no two threads share a graph
 * (ComputationGraph inference is not thread-safe).
 */
public final class ModelCache {
    private record Entry(long broadcastId, ComputationGraph graph) {
    }

    private static final ThreadLocal<Entry> CACHE = new ThreadLocal<>();

    private ModelCache() {
    }

    public static ComputationGraph get(Broadcast<byte[]> model) {
        Entry e = CACHE.get();
        if (e == null || e.broadcastId != model.id()) {
            Nd4jRuntime.configure();
            e = new Entry(model.id(), Models.fromBytes(model.value(), false));
            CACHE.set(e);
        }
        return e.graph;
    }
}
