package io.distillery.method;

import java.io.Serializable;
import java.util.List;

/**
 * An extra input of the student graph beside the image, fed from a stored teacher column: for
 * methods whose layers must see the teacher's tensor itself (a discriminator judging teacher maps),
 * not only compare against it in a loss. {@code shape} is one example's shape, e.g. [C, H, W].
 */
public record GraphInput(String name, LabelSource.TeacherColumn column, List<Integer> shape) implements Serializable {
    public GraphInput {
        shape = List.copyOf(shape);
    }

    /** The minibatch shape for {@code n} examples. */
    public long[] batchShape(int n) {
        long[] s = new long[shape.size() + 1];
        s[0] = n;
        for (int i = 0; i < shape.size(); i++) {
            s[i + 1] = shape.get(i);
        }
        return s;
    }
}
