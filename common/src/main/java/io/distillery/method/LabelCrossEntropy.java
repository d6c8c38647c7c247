package io.distillery.method;

import io.distillery.model.ModelZoo;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;

/**
 * Cross-entropy against the true labels, scaled by {@code weight}. Always attached, also at weight
 * 0, so every student keeps its {@value ModelZoo#OUTPUT} softmax head for prediction.
 */
public record LabelCrossEntropy(double weight, int classes) implements DistillationMethod {

    @Override
    public String name() {
        return "ce";
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        // LossMCXENT's per-class weights, all equal, scale the loss and its gradient by `weight`.
        LossMCXENT loss = new LossMCXENT(Nd4j.valueArrayOf(new long[]{1, classes}, weight));
        graph.builder().addLayer(ModelZoo.OUTPUT, new LossLayer.Builder(loss).activation(Activation.SOFTMAX).build(), ModelZoo.LOGITS);
        graph.addHead(ModelZoo.OUTPUT, new LabelSource.ClassLabels(classes));
    }
}
