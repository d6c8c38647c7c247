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

    public ColumnSpec tapSpec(String tap) {
        return TeacherOutputsTable.tap(manifest, tap);
    }

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
