package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.ColumnEncoding;
import io.distillery.tensor.TensorEncoding;
import io.distillery.tensor.TopKEncoding;

/** What a method may read from a teacher-outputs table, taken from its manifest. */
public record TeacherOutputs(String name, Manifest manifest) {
    /**
     * Manifest property of logits stored {@code topk-float32-int32-le}: k, the number of classes per
     * row (the column's shape stays the dense {@code [classes]}).
     */
    public static final String LOGITS_TOP_K = "logits_top_k";

    /**
     * The stored logits, {@code width} = the number of classes. Logits stored top-k come back as a
     * {@link TopKEncoding} column: their heads get a label mask (see {@link LabelSource.TeacherColumn}).
     */
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
        return new LabelSource.TeacherColumn(spec.name(), encoding(spec), spec.elementCount());
    }

    private ColumnEncoding encoding(ColumnSpec spec) {
        if (!TopKEncoding.MANIFEST_NAME.equals(spec.encoding())) {
            return TensorEncoding.fromManifestName(spec.encoding());
        }
        Object k = spec.name().equals(TeacherOutputsTable.LOGITS) ? manifest.property(LOGITS_TOP_K) : null;
        int classes = spec.elementCount();
        if (!(k instanceof Number n) || n.intValue() != n.doubleValue() || n.intValue() < 1 || n.intValue() > classes) {
            throw new BadInputException("teacher outputs " + name + ": manifest column '" + spec.name() + "' is " + TopKEncoding.MANIFEST_NAME
                    + " but the manifest property '" + LOGITS_TOP_K + "' is " + k + ", not a k in 1.." + classes);
        }
        return new TopKEncoding(n.intValue());
    }

    /** A stand-in when no teacher is used (the baseline). */
    public static TeacherOutputs none() {
        return new TeacherOutputs("none", null);
    }
}
