package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.loss.KnowledgeDistillationLoss;
import io.distillery.model.ModelZoo;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.nd4j.linalg.activations.Activation;

/**
 * Hinton et al. 2015, "Distilling the Knowledge in a Neural Network": the student's softened softmax
 * (temperature T) matches the teacher's, as KL divergence scaled by T^2 so that its gradients keep
 * their size as T changes. Reads the stored teacher logits.
 */
public record HintonKd(double weight, double temperature, int classes) implements DistillationMethod {
    public static final String HEAD = "kd";

    @Override
    public String name() {
        return HEAD;
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        LabelSource.TeacherColumn logits = teacher.logits();
        if (logits.width() != classes) {
            throw new BadInputException("teacher outputs " + teacher.name() + ": logits have shape [" + logits.width()
                    + "] but the student's head has " + classes + " classes");
        }
        graph.builder().addLayer(HEAD, new LossLayer.Builder(new KnowledgeDistillationLoss(temperature, weight))
                .activation(Activation.IDENTITY).build(), ModelZoo.LOGITS);
        graph.addHead(HEAD, logits);
    }
}
