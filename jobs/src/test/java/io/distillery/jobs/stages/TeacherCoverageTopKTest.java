package io.distillery.jobs.stages;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.method.LabelSource;
import io.distillery.tensor.TensorEncoding;
import io.distillery.tensor.TopKEncoding;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/** The pre-training check of stored teacher rows: a top-k row needs its class indices in range, once each, and finite values. */
class TeacherCoverageTopKTest {
    private static final StructType SCHEMA = new StructType().add("id", DataTypes.LongType).add("logits", DataTypes.BinaryType)
            .add("tap_stage3", DataTypes.BinaryType);
    private static final List<LabelSource.TeacherColumn> COLUMNS = List.of(
            new LabelSource.TeacherColumn("logits", new TopKEncoding(2), 10),
            new LabelSource.TeacherColumn("tap_stage3", TensorEncoding.FLOAT16, 2));

    private static Row row(long id, float v0, float v1, int i0, int i1) {
        byte[] logits = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(v0).putFloat(v1).putInt(i0).putInt(i1).array();
        return new GenericRowWithSchema(new Object[]{id, logits, TensorEncoding.FLOAT16.encode(new float[]{1f, 2f})}, SCHEMA);
    }

    private static void assertOneLine(String problem, String... fragments) {
        assertFalse(problem.contains("\n"), problem);
        for (String f : fragments) {
            assertTrue(problem.contains(f), "lacks '" + f + "': " + problem);
        }
    }

    @Test
    void goodRowPasses() {
        assertNull(TeacherCoverage.problem(row(1, 3f, 2f, 9, 0), COLUMNS));
    }

    @Test
    void classIndexOutOfRangeNamesColumnIdAndIndex() {
        String p = TeacherCoverage.problem(row(77, 3f, 2f, 4, 10), COLUMNS);
        assertOneLine(p, "column 'logits' of id 77", "class index 10", "outside 0..9");
        assertOneLine(TeacherCoverage.problem(row(78, 3f, 2f, -3, 1), COLUMNS), "id 78", "class index -3");
        assertOneLine(TeacherCoverage.problem(row(79, 3f, 2f, 5, 5), COLUMNS), "id 79", "class index 5 is stored twice");
    }

    @Test
    void nonFiniteStoredValueNamesItsClass() {
        String p = TeacherCoverage.problem(row(5, Float.POSITIVE_INFINITY, 2f, 6, 1), COLUMNS);
        assertOneLine(p, "column 'logits' of id 5", "Infinity", "element 6", "must be finite");
    }

    @Test
    void wrongRowLengthIsReportedNotThrown() {
        Row shortRow = new GenericRowWithSchema(new Object[]{9L, new byte[12], TensorEncoding.FLOAT16.encode(new float[]{1f, 2f})}, SCHEMA);
        String p = TeacherCoverage.problem(shortRow, COLUMNS);
        assertOneLine(p, "column 'logits' of id 9", "expected 16 bytes, got 12");
        assertEquals(null, TeacherCoverage.problem(row(1, 1f, 1f, 0, 1), List.of()));
    }
}
