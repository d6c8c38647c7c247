package io.distillery.jobs.stages;

import io.distillery.config.ModelSpec;
import io.distillery.data.ImageShape;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The facts about a model that go into its manifest: what it is, what it takes, how big it is. */
final class ModelFacts {
    private ModelFacts() {
    }

    /** @param spec null for imported models */
    static Map<String, Object> of(ModelSpec spec, ImageShape input, List<String> classNames, ComputationGraph graph, long fileBytes) {
        Map<String, Object> p = new LinkedHashMap<>();
        if (spec != null) {
            p.put("architecture", spec.architecture());
            p.put("widths", spec.widths());
            p.put("blocks", spec.blocks());
        }
        p.put("input_shape", List.of(input.height(), input.width(), input.channels()));
        p.put("input_layout", "NCHW float32, pixels / 255");
        p.put("classes", classNames.size());
        p.put("class_names", classNames);
        p.put("parameters", graph.numParams());
        p.put("model_bytes", fileBytes);
        p.put("layers", List.of(graph.getConfiguration().getTopologicalOrderStr().stream()
                .filter(n -> !graph.getConfiguration().getNetworkInputs().contains(n)).toArray()));
        return p;
    }
}
