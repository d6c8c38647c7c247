package io.distillery.method;

import io.distillery.layer.AttentionMapLayer;
import io.distillery.loss.HintLoss;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.nd4j.linalg.activations.Activation;

import java.util.List;

/**
 * Zagoruyko and Komodakis 2017, "Paying More Attention to Attention" (the authors' code form): for
 * each paired layer, the student's spatial attention map q_S (channel mean of squared activations,
 * flattened, L2-normalised per example) regresses the teacher's, stored at precompute time as the
 * tap {@code <teacher layer>:attention} (H·W values instead of C·H·W). Loss per pair:
 * {@code weight · mean over H·W of (q_S − q_T)²}, averaged over the batch; the authors use weight
 * 1000. No parameters are added.
 */
public record AttentionTransfer(double weight, List<String> studentLayers, List<String> teacherLayers) implements DistillationMethod {
    public static final String PREFIX = "at_";

    @Override
    public String name() {
        return "at";
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        for (int i = 0; i < studentLayers.size(); i++) {
            String studentLayer = studentLayers.get(i);
            String tap = teacherLayers.get(i) + ":attention";
            LabelSource.TeacherColumn target = teacher.tap(tap);
            FeatureMaps.requireSpatialSize(graph, "at", studentLayer, tap, target.width());
            String head = FeatureMaps.uniqueHead(graph, PREFIX + studentLayer);
            graph.builder()
                    .addLayer(head + "_map", new AttentionMapLayer(), studentLayer)
                    .addLayer(head, new LossLayer.Builder(new HintLoss(weight)).activation(Activation.IDENTITY).build(), head + "_map");
            graph.addHead(head, target);
        }
    }
}
