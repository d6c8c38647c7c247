package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.loss.KnowledgeDistillationLoss;
import io.distillery.model.ModelZoo;
import io.distillery.tensor.TopKEncoding;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.nd4j.linalg.activations.Activation;
import org.slf4j.LoggerFactory;

/**
 * Hinton et al. 2015, "Distilling the Knowledge in a Neural Network": the student's softened softmax
 * (temperature T) matches the teacher's, as KL divergence scaled by T^2 so that its gradients keep
 * their size as T changes. Reads the stored teacher logits.
 *
 * <p>Logits stored top-k ({@code precompute.logits-encoding = "topk:K"}, {@link TopKEncoding}) arrive
 * as a dense row with a label mask marking the K stored classes, and {@link KnowledgeDistillationLoss}
 * takes both softmaxes over those K classes only: the KL divergence between the teacher's and the
 * student's distributions renormalised over the teacher's top K. The teacher's mass outside its top K
 * is dropped rather than modelled. That is exact on what is stored (a dense row with K = classes gives
 * the plain loss), needs nothing beyond the K values, and leaves the student's other classes to the
 * cross-entropy head. The alternative, spreading the teacher's remaining mass 1 - Σ top-K evenly over
 * the other classes (FKD's "marginal smoothing"), would need the teacher's log-sum-exp per row (4 more
 * bytes) and imposes a flat tail the teacher never had. Consequence: with K = 1 the one-class softmaxes
 * are both 1 and the KD term is identically 0 (a warning says so); use K >= 2.
 */
public record HintonKd(double weight, double temperature, int classes) implements DistillationMethod {
    public static final String HEAD = "kd";

    @Override
    public String name() {
        return HEAD;
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        LabelSource logits = teacher.kdTargets();
        if (logits.width() != classes) {
            throw new BadInputException("teacher outputs " + teacher.name() + ": logits have shape [" + logits.width()
                    + "] but the student's head has " + classes + " classes");
        }
        if (logits instanceof LabelSource.TeacherColumn c && c.encoding() instanceof TopKEncoding topK && topK.k() == 1 && weight > 0) {
            LoggerFactory.getLogger(HintonKd.class).warn("teacher outputs {} store only the top-1 logit: KD over one class is always 0,"
                    + " so the kd head teaches nothing; precompute with logits-encoding topk:K, K >= 2, for KD", teacher.name());
        }
        graph.builder().addLayer(HEAD, new LossLayer.Builder(new KnowledgeDistillationLoss(temperature, weight))
                .activation(Activation.IDENTITY).build(), ModelZoo.LOGITS);
        graph.addHead(HEAD, logits);
    }
}
