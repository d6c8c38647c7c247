package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.method.GraphInput;
import io.distillery.method.LabelSource;
import io.distillery.tensor.TensorEncoding;
import io.distillery.tensor.TopKEncoding;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/** Top-k teacher logits become dense KD labels plus a per-output label mask; other heads get no mask. */
class TopKBatchAssemblerTest {
    private static final ImageShape SHAPE = new ImageShape(1, 1, 1);
    private static final StructType SCHEMA = new StructType()
            .add("id", DataTypes.LongType).add("label", DataTypes.IntegerType).add("image", DataTypes.BinaryType)
            .add("logits", DataTypes.BinaryType).add("tap_stage3", DataTypes.BinaryType);
    private static final TopKEncoding TOP2 = new TopKEncoding(2);
    private static final List<LabelSource> HEADS = List.of(
            new LabelSource.ClassLabels(4),
            new LabelSource.TeacherColumn("logits", TOP2, 4),
            new LabelSource.TeacherColumn("tap_stage3", TensorEncoding.FLOAT16, 2));

    private static Row row(long id, byte[] logits) {
        return new GenericRowWithSchema(new Object[]{id, (int) (id % 4), new byte[]{(byte) id}, logits,
                TensorEncoding.FLOAT16.encode(new float[]{id, -1f})}, SCHEMA);
    }

    private static Row row(long id, float... logits) {
        return row(id, TOP2.encode(logits));
    }

    private static float[] flat(INDArray a) {
        return a.dup('c').data().asFloat();
    }

    @Test
    void topKHeadGetsDenseLabelsAndAMaskOfItsStoredClasses() {
        Iterator<MultiDataSet> it = new BatchAssembler(SHAPE, HEADS, 2).batches(List.of(
                row(10, 0.5f, 3f, -2f, 1f), row(11, -1f, -4f, 2.5f, 7f), row(12, 9f, 8f, 0f, 0f)).iterator());
        MultiDataSet first = it.next();
        assertArrayEquals(new float[]{0, 3, 0, 1, /**/ 0, 0, 2.5f, 7}, flat(first.getLabels(1)), 0f);
        INDArray[] masks = first.getLabelsMaskArrays();
        assertNotNull(masks, "a top-k head needs label masks");
        assertEquals(3, masks.length);
        assertNull(masks[0], "class labels: no mask");
        assertNull(masks[2], "dense tap: no mask");
        assertArrayEquals(new long[]{2, 4}, masks[1].shape());
        assertArrayEquals(new float[]{0, 1, 0, 1, /**/ 0, 0, 1, 1}, flat(masks[1]), 0f);
        assertNull(first.getFeaturesMaskArrays());

        MultiDataSet last = it.next();
        assertArrayEquals(new float[]{9, 8, 0, 0}, flat(last.getLabels(1)), 0f);
        assertArrayEquals(new float[]{1, 1, 0, 0}, flat(last.getLabelsMaskArray(1)), 0f, "remainder batch: its own mask rows");
        assertArrayEquals(new float[]{12, -1}, flat(last.getLabels(2)), 0f);

        // DL4J's Spark worker re-batches through MultiDataSet.merge: the masks must stay aligned with their rows.
        MultiDataSet merged = org.nd4j.linalg.dataset.MultiDataSet.merge(List.of(first, last));
        assertArrayEquals(new float[]{0, 1, 0, 1, /**/ 0, 0, 1, 1, /**/ 1, 1, 0, 0}, flat(merged.getLabelsMaskArray(1)), 0f);
        assertArrayEquals(new float[]{0, 3, 0, 1, /**/ 0, 0, 2.5f, 7, /**/ 9, 8, 0, 0}, flat(merged.getLabels(1)), 0f);
    }

    @Test
    void denseHeadsOnlyMeanNoLabelMasksAtAll() {
        List<LabelSource> dense = List.of(new LabelSource.ClassLabels(4), new LabelSource.TeacherColumn("tap_stage3", TensorEncoding.FLOAT16, 2));
        MultiDataSet mds = new BatchAssembler(SHAPE, dense, 4).batches(List.of(row(1, 1f, 2f, 3f, 4f)).iterator()).next();
        assertNull(mds.getLabelsMaskArrays());
    }

    @Test
    void badClassIndexIsOneLineNamingColumnAndId() {
        byte[] bad = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(2f).putFloat(1f).putInt(1).putInt(4).array();
        var it = new BatchAssembler(SHAPE, HEADS, 4).batches(List.of(row(1, 1f, 2f, 3f, 4f), row(42, bad)).iterator());
        String m = assertThrows(BadInputException.class, it::next).getMessage();
        assertTrue(m.contains("column 'logits' of id 42") && m.contains("class index 4") && m.contains("outside 0..3"), m);
        assertTrue(!m.contains("\n"), m);
        String nan = assertThrows(BadInputException.class, () -> new BatchAssembler(SHAPE, HEADS, 4).batches(List.of(row(7,
                ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(Float.NaN).putFloat(1f).putInt(2).putInt(0).array())).iterator()).next())
                .getMessage();
        assertTrue(nan.contains("'logits' of id 7") && nan.contains("NaN") && nan.contains("element 2"), nan);
    }

    @Test
    void graphInputsCannotBeFedFromTopKColumns() {
        GraphInput input = new GraphInput("teacher_logits", new LabelSource.TeacherColumn("logits", TOP2, 4), List.of(4));
        var e = assertThrows(IllegalArgumentException.class, () -> new BatchAssembler(SHAPE, List.of(input), HEADS, 4));
        assertTrue(e.getMessage().contains("topk-float32-int32-le"), e.getMessage());
    }
}
