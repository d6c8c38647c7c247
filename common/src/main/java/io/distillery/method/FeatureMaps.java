package io.distillery.method;

import io.distillery.errors.BadInputException;
import org.deeplearning4j.nn.conf.inputs.InputType;

import java.util.List;

/** Shape checks shared by the feature-map methods, each failing with one line that names both sides. */
final class FeatureMaps {
    private FeatureMaps() {
    }

    /** The student layer as a feature map, or a one-line error. */
    static InputType.InputTypeConvolutional featureMap(DistillationGraph graph, String method, String studentLayer) {
        InputType type = graph.activationType(studentLayer);
        if (!(type instanceof InputType.InputTypeConvolutional conv)) {
            throw new BadInputException(method + ": student layer '" + studentLayer + "' is " + type + "; it must be a feature map (C, H, W)");
        }
        return conv;
    }

    /** For a stored map of H·W values (an attention tap): the student layer must have H·W positions. */
    static void requireSpatialSize(DistillationGraph graph, String method, String studentLayer, String tap, int positions) {
        InputType.InputTypeConvolutional conv = featureMap(graph, method, studentLayer);
        if (conv.getHeight() * conv.getWidth() != positions) {
            throw new BadInputException(method + ": teacher tap '" + tap + "' has " + positions + " positions but student layer '"
                    + studentLayer + "' is " + conv.getHeight() + "x" + conv.getWidth() + "; spatial sizes must match");
        }
    }

    /** For a stored [C, H, W] tap: same H and W as the student layer. Returns H·W. */
    static int requireSameSpatialShape(DistillationGraph graph, String method, String studentLayer, String tap, List<Integer> shape) {
        InputType.InputTypeConvolutional conv = featureMap(graph, method, studentLayer);
        if (shape == null || shape.size() != 3) {
            throw new BadInputException(method + ": teacher tap '" + tap + "' has shape " + shape + "; the method needs a feature map [C, H, W]");
        }
        if (conv.getHeight() != shape.get(1) || conv.getWidth() != shape.get(2)) {
            throw new BadInputException(method + ": student layer '" + studentLayer + "' is " + conv.getHeight() + "x" + conv.getWidth()
                    + " but teacher tap '" + tap + "' is " + shape.get(1) + "x" + shape.get(2) + " (shape " + shape + "); spatial sizes must match");
        }
        return shape.get(1) * shape.get(2);
    }

    /** {@code name}, or a one-line error if another head already has it (a layer listed twice). */
    static String uniqueHead(DistillationGraph graph, String name) {
        if (graph.hasVertex(name)) {
            throw new BadInputException("student head '" + name + "' is defined twice; list each student layer once per method");
        }
        return name;
    }
}
