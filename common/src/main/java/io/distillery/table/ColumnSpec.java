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
 * @param layout    axis names of {@code shape}, e.g. "HWC", "CHW", "K"; otherwise null
 * @param tap       for teacher-output tap columns: the teacher layer name; otherwise null
 * @param description one line for humans
 */
public record ColumnSpec(String name, String type, String encoding, List<Integer> shape, String layout, String tap,
                         String description) {

    public static ColumnSpec plain(String name, String type, String description) {
        return new ColumnSpec(name, type, null, null, null, null, description);
    }

    public int elementCount() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }
}
