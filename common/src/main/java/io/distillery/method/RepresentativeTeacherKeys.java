package io.distillery.method;

import io.distillery.config.MethodSettings;
import io.distillery.layer.AttentionMapLayer;
import io.distillery.loss.RtkLoss;
import io.distillery.table.ColumnSpec;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.nd4j.linalg.activations.Activation;

import java.util.List;

/**
 * RTK, Yang, Kao and Huang 2022, "Representative Teacher Keys for Knowledge Distillation Model
 * Compression Based on Attention Mechanism" (arXiv 2206.12788), <b>reconstructed from its abstract</b>
 * ({@value MethodSettings#RECONSTRUCTED_V0}; the paper's method section was not read, so results are
 * never the paper's). The student's attention map is the query; the teacher's per-channel energy
 * maps of the raw stored tap are keys and values; per example the ⌈ρ·C⌉ channels most similar to
 * the query are kept and mixed by softmax(similarity / τ) into the target map, which the query
 * regresses as in AT (see {@link RtkLoss}; no gradient flows through the selection). With ρ = 1 and
 * a very large τ the target is the teacher's attention map: RTK becomes AT.
 */
public record RepresentativeTeacherKeys(MethodSettings.Rtk settings) implements DistillationMethod {
    public static final String PREFIX = "rtk_";

    @Override
    public String name() {
        return "rtk";
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        List<String> studentLayers = settings.studentLayers();
        for (int i = 0; i < studentLayers.size(); i++) {
            String studentLayer = studentLayers.get(i);
            String tap = settings.teacherLayers().get(i);
            ColumnSpec spec = teacher.tapSpec(tap);
            int positions = FeatureMaps.requireSameSpatialShape(graph, "rtk", studentLayer, tap, spec.shape());
            String head = FeatureMaps.uniqueHead(graph, PREFIX + studentLayer);
            RtkLoss loss = new RtkLoss(settings.weight(), settings.rho(), settings.tau(), spec.shape().get(0), positions);
            graph.builder()
                    .addLayer(head + "_map", new AttentionMapLayer(), studentLayer)
                    .addLayer(head, new LossLayer.Builder(loss).activation(Activation.IDENTITY).build(), head + "_map");
            graph.addHead(head, teacher.tap(tap));
        }
    }
}
