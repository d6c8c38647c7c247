package io.distillery.method;

import io.distillery.config.MethodSettings;
import io.distillery.errors.BadInputException;
import io.distillery.loss.HintLoss;
import io.distillery.table.ColumnSpec;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.nd4j.linalg.activations.Activation;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * InDistill, Sarridis et al. 2022 (arXiv 2205.10003; following the authors' code as the method card
 * reads it): the teacher's intermediate layers, pruned to the student's widths by the L1 norm of
 * their filters, are stored at precompute time as taps {@code <layer>:prune-l1=<width>}, and each
 * student layer regresses its pruned teacher layer directly by mean squared error, with no
 * connector. A curriculum trains one pair at a time, shallow first, then switches to the final
 * objective (the other heads: CE, KD, ...), as in the paper's later version where InDistill is a
 * warm-up before a standard KD stage. The curriculum is a per-epoch head weight schedule.
 *
 * <p>Deviation from the authors' code, as the card suggests: pruned maps come from the teacher in
 * inference mode with all batch-norm parameters kept, so pruning is exactly channel selection.
 */
public record InDistill(MethodSettings.InDistill settings) implements DistillationMethod {
    public static final String PREFIX = "indistill_";

    @Override
    public String name() {
        return "indistill";
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        for (int i = 0; i < settings.studentLayers().size(); i++) {
            String studentLayer = settings.studentLayers().get(i);
            InputType.InputTypeConvolutional conv = FeatureMaps.featureMap(graph, "indistill", studentLayer);
            int channels = (int) conv.getChannels();
            String tap = settings.teacherLayers().get(i) + ":prune-l1=" + channels;
            ColumnSpec spec = teacher.tapSpec(tap);
            FeatureMaps.requireSameSpatialShape(graph, "indistill", studentLayer, tap, spec.shape());
            if (spec.shape().get(0) != channels) {
                throw new BadInputException("indistill: teacher tap '" + tap + "' has shape " + spec.shape() + " but student layer '"
                        + studentLayer + "' has " + channels + " channels");
            }
            String head = FeatureMaps.uniqueHead(graph, PREFIX + studentLayer);
            graph.builder().addLayer(head, new LossLayer.Builder(new HintLoss(settings.weight())).activation(Activation.IDENTITY).build(),
                    new CnnToFeedForwardPreProcessor(conv.getHeight(), conv.getWidth(), channels), studentLayer);
            graph.addHead(head, teacher.tap(tap));
        }
    }

    /**
     * Pair i alone for {@code stage-epochs[i]} epochs, in order; afterwards every other head at its
     * configured weight and these heads off.
     */
    @Override
    public Map<String, List<Double>> schedule(List<String> heads) {
        int warmUp = settings.stageEpochs().stream().mapToInt(Integer::intValue).sum();
        Map<String, List<Double>> schedule = new LinkedHashMap<>();
        for (String head : heads) {
            List<Double> weights = new ArrayList<>(Collections.nCopies(warmUp, 0.0));
            weights.add(head.startsWith(PREFIX) ? 0.0 : 1.0);
            schedule.put(head, weights);
        }
        int epoch = 0;
        for (int i = 0; i < settings.studentLayers().size(); i++) {
            List<Double> weights = schedule.get(PREFIX + settings.studentLayers().get(i));
            for (int e = 0; e < settings.stageEpochs().get(i); e++) {
                weights.set(epoch++, 1.0);
            }
        }
        return schedule;
    }
}
