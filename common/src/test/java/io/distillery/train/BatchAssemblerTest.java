package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.LabelSource;
import io.distillery.tensor.TensorEncoding;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/** Joined rows to MultiDataSet minibatches: features, one-hot labels and decoded teacher columns. */
class BatchAssemblerTest {
    /** One row, two pixels, two channels: HWC bytes (p0c0, p0c1, p1c0, p1c1) become CHW (p0c0, p1c0, p0c1, p1c1). */
    private static final ImageShape SHAPE = new ImageShape(1, 2, 2);
    private static final StructType SCHEMA = new StructType()
            .add("id", DataTypes.LongType).add("label", DataTypes.IntegerType).add("image", DataTypes.BinaryType)
            .add("logits", DataTypes.BinaryType).add("tap_stage3", DataTypes.BinaryType);
    private static final List<LabelSource> HEADS = List.of(
            new LabelSource.ClassLabels(3),
            new LabelSource.TeacherColumn("logits", TensorEncoding.FLOAT32, 3),
            new LabelSource.TeacherColumn("tap_stage3", TensorEncoding.FLOAT16, 2));

    /** Row i: image (0, 51i, 255, 102), label, logits (i, -i, 0.1) in float32, tap (i/2, -1.25) in float16. */
    private static Row row(long id, int i, int label) {
        return row(id, label, new float[]{i, -i, 0.1f}, new float[]{i / 2f, -1.25f}, i);
    }

    private static Row row(long id, int label, float[] logits, float[] tap, int i) {
        byte[] image = {0, (byte) (51 * i), (byte) 255, 102};
        return new GenericRowWithSchema(new Object[]{id, label, image, TensorEncoding.FLOAT32.encode(logits),
                TensorEncoding.FLOAT16.encode(tap)}, SCHEMA);
    }

    private static Iterator<MultiDataSet> batches(int batchSize, Row... rows) {
        return new BatchAssembler(SHAPE, HEADS, batchSize).batches(List.of(rows).iterator());
    }

    private static float[] flat(org.nd4j.linalg.api.ndarray.INDArray a) {
        return a.dup('c').data().asFloat();
    }

    @Test
    void assemblesFeaturesOneHotLabelsAndTeacherColumns() {
        Iterator<MultiDataSet> it = batches(3, row(10, 1, 2), row(11, 2, 0), row(12, 3, 1), row(13, 4, 2));
        assertTrue(it.hasNext());
        MultiDataSet first = it.next();
        assertEquals(1, first.getFeatures().length);
        assertEquals(3, first.getLabels().length);
        assertArrayEquals(new long[]{3, 2, 1, 2}, first.getFeatures(0).shape());
        assertArrayEquals(new float[]{
                0f, 1f, 51 / 255f, 102 / 255f,
                0f, 1f, 102 / 255f, 102 / 255f,
                0f, 1f, 153 / 255f, 102 / 255f}, flat(first.getFeatures(0)), 0f);
        assertArrayEquals(new long[]{3, 3}, first.getLabels(0).shape());
        assertArrayEquals(new float[]{0, 0, 1, /**/ 1, 0, 0, /**/ 0, 1, 0}, flat(first.getLabels(0)), 0f);
        assertArrayEquals(new long[]{3, 3}, first.getLabels(1).shape());
        assertArrayEquals(new float[]{1, -1, 0.1f, /**/ 2, -2, 0.1f, /**/ 3, -3, 0.1f}, flat(first.getLabels(1)), 0f);
        assertArrayEquals(new long[]{3, 2}, first.getLabels(2).shape());
        assertArrayEquals(new float[]{0.5f, -1.25f, /**/ 1f, -1.25f, /**/ 1.5f, -1.25f}, flat(first.getLabels(2)), 0f);

        assertTrue(it.hasNext());
        MultiDataSet last = it.next();
        assertArrayEquals(new long[]{1, 2, 1, 2}, last.getFeatures(0).shape(), "last batch holds the remainder");
        assertArrayEquals(new float[]{0f, 1f, 204 / 255f, 102 / 255f}, flat(last.getFeatures(0)), 0f);
        assertArrayEquals(new float[]{0, 0, 1}, flat(last.getLabels(0)), 0f);
        assertArrayEquals(new float[]{4, -4, 0.1f}, flat(last.getLabels(1)), 0f);
        assertArrayEquals(new float[]{2f, -1.25f}, flat(last.getLabels(2)), 0f);
        assertFalse(it.hasNext());
    }

    @Test
    void nanInTeacherColumnIsRejectedNamingColumnAndId() {
        Row bad = row(11, 0, new float[]{0, Float.NaN, 0}, new float[]{0, 0}, 0);
        String message = assertThrows(BadInputException.class, () -> batches(4, row(10, 0, 0), bad).next()).getMessage();
        assertTrue(message.contains("'logits'") && message.contains("id 11") && message.contains("NaN"), message);
        assertTrue(message.contains("element 1"), message);
    }

    @Test
    void nanInFirstRowOfFloat16TapIsRejected() {
        Row bad = row(7, 0, new float[]{0, 0, 0}, new float[]{Float.NaN, 0}, 0);
        String message = assertThrows(BadInputException.class, () -> batches(4, bad).next()).getMessage();
        assertTrue(message.contains("'tap_stage3'") && message.contains("id 7") && message.contains("element 0"), message);
    }

    @Test
    void labelOutOfRangeIsRejected() {
        String message = assertThrows(BadInputException.class, () -> batches(4, row(10, 0, 0), row(42, 0, 3)).next()).getMessage();
        assertTrue(message.contains("id 42") && message.contains("label 3") && message.contains("0..2"), message);
        assertThrows(BadInputException.class, () -> batches(4, row(43, 0, -1)).next());
    }
}
