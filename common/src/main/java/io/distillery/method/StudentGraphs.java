package io.distillery.method;

import io.distillery.config.ModelSpec;
import io.distillery.config.PipelineConfig.DistillSettings;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * Turns a distill configuration into methods and a trainable student graph, and a trained graph
 * back into the plain classifier that gets deployed (method heads and connectors dropped).
 */
public final class StudentGraphs {
    private StudentGraphs() {
    }

    /** The methods a distill configuration asks for, in head order: CE, KD, hint, AT, RTK, KDFM, InDistill, FEED. */
    public static List<DistillationMethod> methods(DistillSettings d, int classes, Supplier<ComputationGraph> teacherModel) {
        List<DistillationMethod> methods = new ArrayList<>();
        methods.add(new LabelCrossEntropy(d.ceWeight(), classes));
        if (d.kdWeight() > 0) {
            methods.add(new HintonKd(d.kdWeight(), d.temperature(), classes));
        }
        if (d.usesHint()) {
            methods.add(new FitNetsHint(d.hintWeight(), d.hintStudentLayer(), d.hintTeacherTap()));
        }
        if (d.at().weight() > 0) {
            methods.add(new AttentionTransfer(d.at().weight(), d.at().studentLayers(), d.at().teacherLayers()));
        }
        if (d.rtk().weight() > 0) {
            methods.add(new RepresentativeTeacherKeys(d.rtk()));
        }
        if (d.kdfm().enabled()) {
            methods.add(new Kdfm(d.kdfm(), teacherModel));
        }
        if (d.indistill().weight() > 0) {
            methods.add(new InDistill(d.indistill()));
        }
        if (d.feed().weight() > 0) {
            methods.add(new ParallelFeed(d.feed()));
        }
        return methods;
    }

    /** As above, for configurations that need no teacher model (all but KDFM's shared classifier). */
    public static List<DistillationMethod> methods(DistillSettings d, int classes) {
        return methods(d, classes, () -> {
            throw new IllegalStateException("no teacher model was given for KDFM's shared classifier");
        });
    }

    /** Labels only, weight 1: the baseline and the teacher are trained this way. */
    public static List<DistillationMethod> labelsOnly(int classes) {
        return List.of(new LabelCrossEntropy(1.0, classes));
    }

    public static DistillationGraph build(ModelSpec spec, ImageShape input, int classes, TrainSettings train,
                                          List<DistillationMethod> methods, TeacherOutputs teacher) {
        DistillationGraph graph = new DistillationGraph(ModelZoo.features(spec, input, train), ModelZoo.inputType(input));
        String features = ModelZoo.lastStage(spec);
        List<ClassifierHead> heads = methods.stream().filter(m -> m instanceof ClassifierHead h && ownsHead(h))
                .map(m -> (ClassifierHead) m).toList();
        if (heads.size() > 1) {
            throw new BadInputException("only one method may replace the student's classifier head, got " + heads);
        }
        if (heads.isEmpty()) {
            ModelZoo.addHead(graph.builder(), spec, classes, features);
        } else {
            heads.get(0).attachHead(graph, features, classes, teacher);
        }
        for (DistillationMethod m : methods) {
            m.attach(graph, teacher);
        }
        return graph;
    }

    private static boolean ownsHead(ClassifierHead head) {
        return !(head instanceof Kdfm k) || k.settings().sharedClassifier();
    }

    /**
     * Per-epoch head weight multipliers: each method's own schedule, then {@code configured} (the
     * {@code distill.schedule} block) per head on top. A configured head that does not exist is an error.
     */
    public static Map<String, List<Double>> schedule(List<DistillationMethod> methods, List<String> heads,
                                                     Map<String, List<Double>> configured) {
        Map<String, List<Double>> schedule = new LinkedHashMap<>();
        for (DistillationMethod m : methods) {
            schedule.putAll(m.schedule(heads));
        }
        for (var e : configured.entrySet()) {
            if (!heads.contains(e.getKey())) {
                throw new BadInputException("config key 'distill.schedule." + e.getKey() + "': the student has no head '" + e.getKey()
                        + "'; heads: " + heads);
            }
            schedule.put(e.getKey(), e.getValue());
        }
        return schedule;
    }

    /**
     * The deployable classifier: the trained graph cut down to what computes {@value ModelZoo#LOGITS}
     * from the image (method heads, connectors, discriminators and extra inputs dropped), plus a plain
     * softmax cross-entropy {@value ModelZoo#OUTPUT}; trained parameters copied by layer name.
     */
    public static ComputationGraph deployable(ComputationGraph trained) {
        ComputationGraphConfiguration conf = trained.getConfiguration().clone();
        Set<String> keep = ancestors(conf, ModelZoo.LOGITS);
        keep.add(ModelZoo.OUTPUT);
        if (!(conf.getVertices().get(ModelZoo.OUTPUT) instanceof LayerVertex output)) {
            throw new IllegalStateException("trained graph has no '" + ModelZoo.OUTPUT + "' head; vertices " + new TreeSet<>(conf.getVertices().keySet()));
        }
        ((LossLayer) output.getLayerConf().getLayer()).setLossFn(new LossMCXENT());
        conf.getVertices().keySet().retainAll(keep);
        conf.getVertexInputs().keySet().retainAll(keep);
        conf.getNetworkInputs().retainAll(keep);
        conf.setNetworkOutputs(new ArrayList<>(List.of(ModelZoo.OUTPUT)));
        return withParamsOf(conf, trained);
    }

    /**
     * A new graph of configuration {@code conf} holding trained parameters copied by layer name, each
     * layer from the first of {@code trained} that has it (every layer with parameters must be found).
     */
    public static ComputationGraph withParamsOf(ComputationGraphConfiguration conf, ComputationGraph... trained) {
        ComputationGraph plain = new ComputationGraph(conf);
        plain.init();
        for (org.deeplearning4j.nn.api.Layer layer : plain.getLayers()) {
            if (layer.numParams() > 0) {
                String name = layer.conf().getLayer().getLayerName();
                ComputationGraph source = java.util.Arrays.stream(trained).filter(t -> t.getConfiguration().getVertices().containsKey(name))
                        .findFirst().orElseThrow(() -> new IllegalArgumentException("no trained graph has layer '" + name + "'"));
                layer.setParams(source.getLayer(name).params().dup());
            }
        }
        return plain;
    }

    /** {@code vertex} and every vertex (and input) it reads from, directly or not. */
    public static Set<String> ancestors(ComputationGraphConfiguration conf, String vertex) {
        Set<String> seen = new HashSet<>();
        Deque<String> todo = new ArrayDeque<>(List.of(vertex));
        while (!todo.isEmpty()) {
            String v = todo.pop();
            if (seen.add(v)) {
                todo.addAll(conf.getVertexInputs().getOrDefault(v, List.of()));
            }
        }
        return seen;
    }
}
