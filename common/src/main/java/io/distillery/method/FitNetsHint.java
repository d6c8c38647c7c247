package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.loss.HintLoss;
import io.distillery.table.ColumnSpec;
import org.deeplearning4j.nn.conf.inputs.InputType;
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
        ColumnSpec tap = teacher.tapSpec(teacherTap);
        List<Integer> shape = tap.shape();
        InputType studentType = graph.activationType(studentLayer);
        if (shape.size() != 3 || !(studentType instanceof InputType.InputTypeConvolutional conv)) {
            throw new BadInputException("hint: teacher tap '" + teacherTap + "' has shape " + shape + " and student layer '" + studentLayer
                    + "' is " + studentType + "; both must be feature maps (C, H, W)");
        }
        int channels = shape.get(0);
        int height = shape.get(1);
        int width = shape.get(2);
        if (conv.getHeight() != height || conv.getWidth() != width) {
            throw new BadInputException("hint: student layer '" + studentLayer + "' is " + conv.getHeight() + "x" + conv.getWidth()
                    + " but teacher tap '" + teacherTap + "' is " + height + "x" + width + "; spatial sizes must match");
        }
        graph.builder()
                .addLayer(CONNECTOR, new ConvolutionLayer.Builder(1, 1).nOut(channels).activation(Activation.IDENTITY).build(), studentLayer)
                .addLayer(HEAD, new LossLayer.Builder(new HintLoss(weight)).activation(Activation.IDENTITY).build(),
                        new CnnToFeedForwardPreProcessor(height, width, channels), CONNECTOR);
        graph.addHead(HEAD, teacher.tap(teacherTap));
    }
}
