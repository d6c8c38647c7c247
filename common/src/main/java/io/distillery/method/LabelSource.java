package io.distillery.method;

import io.distillery.tensor.ColumnEncoding;

import java.io.Serializable;

/** Where the labels of one output head come from: the example's class, a stored teacher column, or nothing. */
public sealed interface LabelSource extends Serializable {

    /** Width of one example's label row. */
    int width();

    /** The stored teacher columns these labels are read from (none for class labels and zeros). */
    default java.util.List<TeacherColumn> teacherColumns() {
        return this instanceof TeacherColumn c ? java.util.List.of(c)
                : this instanceof EnsembleLogits e ? e.members() : java.util.List.of();
    }

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

    /**
     * A binary tensor column of the teacher outputs (logits or a tap), decoded and flattened to
     * {@code width} values. For a sparse encoding (logits stored top-k) the labels hold the stored
     * values at their classes and 0 elsewhere, and the head gets a per-output label mask (1 at the
     * stored classes): its loss must honour it, as {@code KnowledgeDistillationLoss} does.
     */
    record TeacherColumn(String column, ColumnEncoding encoding, int width) implements LabelSource {
        /** Whether this head's labels come with a per-output mask (the column is stored top-k). */
        public boolean masked() {
            return encoding.isSparse();
        }
    }

    /**
     * The ensemble of several stored logits columns (dense, same width), built per row as the log of
     * the mean of their softmax probabilities: what an ensemble precompute stores as {@code logits},
     * here for a subset of its teachers.
     */
    record EnsembleLogits(java.util.List<TeacherColumn> members) implements LabelSource {
        public EnsembleLogits {
            java.util.List<TeacherColumn> copy = java.util.List.copyOf(members);
            members = copy;
            if (copy.size() < 2 || copy.stream().anyMatch(m -> m.width() != copy.get(0).width() || m.masked())) {
                throw new IllegalArgumentException("an ensemble needs two or more dense logits columns of one width, got " + members);
            }
        }

        @Override
        public int width() {
            return members.get(0).width();
        }
    }
}
