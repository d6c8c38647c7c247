package io.distillery.method;

import io.distillery.loss.HintLoss;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.nd4j.linalg.activations.Activation;

import java.util.List;

/**
 * Romero et al. 2015, "FitNets: Hints for Thin Deep Nets": a 1x1 convolution (the regressor or
 * connector) maps a student feature map onto a stored teacher tap, trained by mean squared error.
 * Spatial sizes must agree; channel counts may differ. The connector is dropped from the deployed
 * student.
 */
public record FitNetsHint(double weight, String studentLayer, String teacherTap) implements DistillationMethod {
    public static final String HEAD = "hint";
    public static final String CONNECTOR = "hint_connector";

    @Override
    public String name() {
        return HEAD;
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        List<Integer> shape = teacher.tapSpec(teacherTap).shape();
        FeatureMaps.requireSameSpatialShape(graph, HEAD, studentLayer, teacherTap, shape);
        int channels = shape.get(0);
        graph.builder()
                .addLayer(CONNECTOR, new ConvolutionLayer.Builder(1, 1).nOut(channels).activation(Activation.IDENTITY).build(), studentLayer)
                .addLayer(HEAD, new LossLayer.Builder(new HintLoss(weight)).activation(Activation.IDENTITY).build(),
                        new CnnToFeedForwardPreProcessor(shape.get(1), shape.get(2), channels), CONNECTOR);
        graph.addHead(HEAD, teacher.tap(teacherTap));
    }
}
