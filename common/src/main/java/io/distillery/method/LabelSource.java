package io.distillery.method;

import io.distillery.tensor.TensorEncoding;

import java.io.Serializable;

/** Where the labels of one output head come from: the example's class, a stored teacher column, or nothing. */
public sealed interface LabelSource extends Serializable {

    /** Width of one example's label row. */
    int width();

    /** One-hot of the examples table's {@code label}. */
    record ClassLabels(int classes) implements LabelSource {
        @Override
        public int width() {
            return classes;
        }
    }

    /** All zeros: for heads whose loss compares graph activations only (a discriminator's halves, say). */
    record Zeros(int width) implements LabelSource {
    }

    /** A binary tensor column of the teacher outputs (logits or a tap), decoded and flattened. */
    record TeacherColumn(String column, TensorEncoding encoding, int width) implements LabelSource {
    }
}
