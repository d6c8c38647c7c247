package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.TensorEncoding;

/** What a method may read from a teacher-outputs table, taken from its manifest. */
public record TeacherOutputs(String name, Manifest manifest) {

    public LabelSource.TeacherColumn logits() {
        return column(manifest.column(TeacherOutputsTable.LOGITS));
    }

    /**
     * The manifest column of a stored tap, by its {@code precompute.taps} string: {@code "stage3"} (raw,
     * shape [C, H, W]), {@code "stage2:attention"} ([H, W]) or {@code "stage1:prune-l1=16"} ([16, H, W],
     * kept channels in {@link ColumnSpec#channels()}). A missing one is a one-line error listing the stored taps.
     */
    public ColumnSpec tapSpec(String tap) {
        return TeacherOutputsTable.tap(manifest, tap);
    }

    /** A stored tap as labels, by its {@code precompute.taps} string; width = the product of its shape (H·W for attention). */
    public LabelSource.TeacherColumn tap(String tap) {
        return column(tapSpec(tap));
    }

    private LabelSource.TeacherColumn column(ColumnSpec spec) {
        if (spec.encoding() == null || spec.shape() == null) {
            throw new BadInputException("teacher outputs " + name + ": manifest column '" + spec.name() + "' has no encoding or shape");
        }
        return new LabelSource.TeacherColumn(spec.name(), TensorEncoding.fromManifestName(spec.encoding()), spec.elementCount());
    }

    /** A stand-in when no teacher is used (the baseline). */
    public static TeacherOutputs none() {
        return new TeacherOutputs("none", null);
    }
}
