package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * A student graph under construction: the zoo's feature extractor and a classifier head ending in
 * {@value ModelZoo#LOGITS}, to which each distillation method adds output heads, every head paired
 * with the source of its labels, and, where a method's layers must see a teacher tensor, extra
 * inputs. The result is one ComputationGraph with several outputs, which is what parameter
 * averaging can train.
 */
public final class DistillationGraph {
    private final ComputationGraphConfiguration.GraphBuilder builder;
    private final List<InputType> inputTypes = new ArrayList<>();
    private final List<GraphInput> extraInputs = new ArrayList<>();
    private final List<String> outputs = new ArrayList<>();
    private final List<LabelSource> labels = new ArrayList<>();
    private final List<Consumer<ComputationGraph>> initializers = new ArrayList<>();

    /** @param builder the feature extractor (with its image input {@value ModelZoo#INPUT}), no outputs set yet */
    public DistillationGraph(ComputationGraphConfiguration.GraphBuilder builder, InputType inputType) {
        // While methods add vertices, unfinished branches are normal; build() checks the whole at the end.
        this.builder = builder.allowDisconnected(true);
        this.inputTypes.add(inputType);
    }

    public ComputationGraphConfiguration.GraphBuilder builder() {
        return builder;
    }

    /** Registers an output vertex (already added to the builder) and where its labels come from. */
    public void addHead(String output, LabelSource label) {
        outputs.add(output);
        labels.add(label);
    }

    /** Adds a graph input fed from a stored teacher column; its type is the column's shape. */
    public void addInput(GraphInput input) {
        List<Integer> s = input.shape();
        InputType type = s.size() == 3 ? InputType.convolutional(s.get(1), s.get(2), s.get(0)) : InputType.feedForward(input.column().width());
        builder.addInputs(input.name());
        inputTypes.add(type);
        builder.setInputTypes(type); // DL4J appends to the types already set
        extraInputs.add(input);
    }

    /** Runs after the graph's parameters are initialised (to load frozen weights, say). */
    public void onInit(Consumer<ComputationGraph> initializer) {
        initializers.add(initializer);
    }

    /** The activation type of a vertex built so far, with a one-line error listing valid names. */
    public InputType activationType(String layer) {
        if (!builder.getVertices().containsKey(layer)) {
            throw new BadInputException("student has no layer '" + layer + "'; layers: " + new TreeSet<>(builder.getVertices().keySet()));
        }
        Map<String, InputType> types = builder.setOutputs(layer).build().getLayerActivationTypes(inputTypes.toArray(new InputType[0]));
        return types.get(layer);
    }

    public boolean hasVertex(String name) {
        return builder.getVertices().containsKey(name);
    }

    public List<LabelSource> labels() {
        return List.copyOf(labels);
    }

    public List<String> outputs() {
        return List.copyOf(outputs);
    }

    /** Graph inputs after the image, in input order. */
    public List<GraphInput> extraInputs() {
        return List.copyOf(extraInputs);
    }

    public ComputationGraphConfiguration build() {
        if (outputs.isEmpty()) {
            throw new IllegalStateException("no output heads were attached");
        }
        return builder.allowDisconnected(false).setOutputs(outputs.toArray(new String[0])).build();
    }

    /** A fresh graph with initialised parameters, method initialisers applied. */
    public ComputationGraph newGraph() {
        ComputationGraph graph = new ComputationGraph(build());
        graph.init();
        initializers.forEach(i -> i.accept(graph));
        return graph;
    }
}
