package io.distillery.method;

import io.distillery.config.ModelSpec;
import io.distillery.config.PipelineConfig.DistillSettings;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.model.ModelZoo;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns a distill configuration into methods and a trainable student graph, and a trained graph
 * back into the plain classifier that gets deployed (method heads and connectors dropped).
 */
public final class StudentGraphs {
    private StudentGraphs() {
    }

    /** The methods a distill configuration asks for, in head order: CE first, then KD, then hint. */
    public static List<DistillationMethod> methods(DistillSettings d, int classes) {
        List<DistillationMethod> methods = new ArrayList<>();
        methods.add(new LabelCrossEntropy(d.ceWeight(), classes));
        if (d.kdWeight() > 0) {
            methods.add(new HintonKd(d.kdWeight(), d.temperature(), classes));
        }
        if (d.usesHint()) {
            methods.add(new FitNetsHint(d.hintWeight(), d.hintStudentLayer(), d.hintTeacherTap()));
        }
        return methods;
    }

    /** Labels only, weight 1: the baseline and the teacher are trained this way. */
    public static List<DistillationMethod> labelsOnly(int classes) {
        return List.of(new LabelCrossEntropy(1.0, classes));
    }

    public static DistillationGraph build(ModelSpec spec, ImageShape input, int classes, TrainSettings train,
                                          List<DistillationMethod> methods, TeacherOutputs teacher) {
        DistillationGraph graph = new DistillationGraph(ModelZoo.backbone(spec, input, classes, train), ModelZoo.inputType(input));
        for (DistillationMethod m : methods) {
            m.attach(graph, teacher);
        }
        return graph;
    }

    /** Copies the trained parameters of every layer the plain classifier has into a fresh classifier. */
    public static ComputationGraph deployable(ComputationGraph trained, ModelSpec spec, ImageShape input, int classes, TrainSettings train) {
        ComputationGraph plain = new ComputationGraph(ModelZoo.classifier(spec, input, classes, train));
        plain.init();
        for (org.deeplearning4j.nn.api.Layer layer : plain.getLayers()) {
            String name = layer.conf().getLayer().getLayerName();
            if (layer.numParams() > 0) {
                layer.setParams(trained.getLayer(name).params().dup());
            }
        }
        return plain;
    }
}
