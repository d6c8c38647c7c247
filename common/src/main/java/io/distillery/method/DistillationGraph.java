package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A student graph under construction: the zoo's classifier up to {@value ModelZoo#LOGITS}, to which
 * each distillation method adds output heads, every head paired with the source of its labels. The
 * result is one ComputationGraph with several outputs, which is what parameter averaging can train.
 */
public final class DistillationGraph {
    private final ComputationGraphConfiguration.GraphBuilder builder;
    private final InputType inputType;
    private final List<String> outputs = new ArrayList<>();
    private final List<LabelSource> labels = new ArrayList<>();
    private final Map<String, InputType> activationTypes;

    /** @param builder the backbone, ending in {@value ModelZoo#LOGITS}, with no outputs set yet */
    public DistillationGraph(ComputationGraphConfiguration.GraphBuilder builder, InputType inputType) {
        this.builder = builder;
        this.inputType = inputType;
        // Heads only add vertices on top of the backbone, so its activation types stay valid.
        this.activationTypes = builder.setOutputs(ModelZoo.LOGITS).build().getLayerActivationTypes(inputType);
    }

    public ComputationGraphConfiguration.GraphBuilder builder() {
        return builder;
    }

    /** Registers an output vertex (already added to the builder) and where its labels come from. */
    public void addHead(String output, LabelSource label) {
        outputs.add(output);
        labels.add(label);
    }

    /** The activation type of a layer of the student, with a one-line error listing valid names. */
    public InputType activationType(String layer) {
        InputType type = activationTypes.get(layer);
        if (type == null) {
            throw new BadInputException("student has no layer '" + layer + "'; layers: " + new TreeSet<>(activationTypes.keySet()));
        }
        return type;
    }

    public List<LabelSource> labels() {
        return List.copyOf(labels);
    }

    public List<String> outputs() {
        return List.copyOf(outputs);
    }

    public ComputationGraphConfiguration build() {
        if (outputs.isEmpty()) {
            throw new IllegalStateException("no output heads were attached");
        }
        return builder.setOutputs(outputs.toArray(new String[0])).build();
    }
}
