package io.distillery.table;

import java.util.List;

/**
 * How to read one column without our code: Parquet type, and for binary tensor columns the element
 * encoding, byte order and shape of one row's tensor (row-major, C order).
 *
 * @param name      column name
 * @param type      Parquet/Spark type: int64, int32, string, binary
 * @param encoding  for binary tensors: uint8, float32-le, float16-le, int8-rowscale-le; otherwise null
 * @param shape     tensor shape of one row, e.g. [28, 28, 1] (HWC) or [128, 7, 7] (CHW); otherwise null
 * @param layout    axis names of {@code shape}, e.g. "HWC", "CHW", "HW", "K"; otherwise null
 * @param tap       for teacher-output tap columns: the source teacher layer name; otherwise null
 * @param description one line for humans
 * @param transform for tap columns stored transformed: the transform in config syntax ({@code attention},
 *                  {@code prune-l1=16}, see {@link TapSpec}); null for raw activations and other columns
 * @param channels  for pruned taps: the kept channel indices of the source layer, ascending (row i of
 *                  the stored tensor is channel {@code channels[i]} of the activation); otherwise null
 */
public record ColumnSpec(String name, String type, String encoding, List<Integer> shape, String layout, String tap,
                         String description, String transform, List<Integer> channels) {

    /** A column without a tap transform (every column written before transforms existed). */
    public ColumnSpec(String name, String type, String encoding, List<Integer> shape, String layout, String tap, String description) {
        this(name, type, encoding, shape, layout, tap, description, null, null);
    }

    public static ColumnSpec plain(String name, String type, String description) {
        return new ColumnSpec(name, type, null, null, null, null, description);
    }

    /** The same column under another name, its description prefixed (an ensemble member's copy of a column). */
    public ColumnSpec renamed(String newName, String descriptionPrefix) {
        return new ColumnSpec(newName, type, encoding, shape, layout, tap, descriptionPrefix + description, transform, channels);
    }

    public int elementCount() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** For a tap column, its spec as written in {@code precompute.taps} (layer and transform); null for other columns. */
    public TapSpec tapSpec() {
        if (tap == null) {
            return null;
        }
        return transform == null ? TapSpec.raw(tap) : TapSpec.parseIn("manifest column '" + name + "': ", tap + ":" + transform);
    }
}
