package io.distillery.jobs.stages;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.model.ModelZoo;
import io.distillery.model.Models;
import io.distillery.table.ExamplesTable;
import io.distillery.tensor.TensorEncoding;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import scala.reflect.ClassTag$;

/** The executor side of precompute on a tiny teacher, without a Spark session. */
class TeacherInferenceTest {
    private static final ImageShape SHAPE = new ImageShape(4, 4, 1);
    private static final StructType SCHEMA = new StructType().add(ExamplesTable.ID, DataTypes.LongType).add(ExamplesTable.IMAGE, DataTypes.BinaryType);

    /** A broadcast that just holds its value, as an executor sees it. */
    private static Broadcast<byte[]> local(long id, byte[] value) {
        return new Broadcast<byte[]>(id, ClassTag$.MODULE$.apply(byte[].class)) {
            @Override
            public byte[] getValue() {
                return value;
            }

            @Override
            public void doUnpersist(boolean blocking) {
            }

            @Override
            public void doDestroy(boolean blocking) {
            }
        };
    }

    @Test
    void everyRowOfABatchGetsItsOwnLogitsAndTaps() {
        ComputationGraph teacher = new ComputationGraph(ModelZoo.classifier(new ModelSpec("cnn", List.of(2), List.of(1)), SHAPE, 3,
                new TrainSettings(1, 4, 0.01, "constant", 0, 0, 1, 7)));
        teacher.init();
        byte[][] images = new byte[5][16];
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < images.length; i++) {
            for (int p = 0; p < 16; p++) {
                images[i][p] = (byte) (37 * i + 11 * p);
            }
            rows.add(new GenericRowWithSchema(new Object[]{100L + i, images[i]}, SCHEMA));
        }
        TeacherInference inference = new TeacherInference(local(991, Models.toBytes(teacher, false)), SHAPE, List.of(TeacherInference.Tap.raw("stage1")), true,
                TensorEncoding.FLOAT32, TensorEncoding.FLOAT32, 4);

        Iterator<Row> out = inference.apply(rows.iterator());
        for (int i = 0; i < images.length; i++) { // batch of 4, then a batch of 1
            Row r = out.next();
            assertEquals(100L + i, r.getLong(0));
            assertEquals(0, r.getInt(1));
            float[] chw = new float[16];
            ExamplesTable.toChw(images[i], SHAPE, chw, 0);
            var acts = teacher.feedForward(Nd4j.create(chw, new long[]{1, 1, 4, 4}, 'c'), false);
            assertArrayEquals(flat(acts.get(ModelZoo.LOGITS)), TensorEncoding.FLOAT32.decode((byte[]) r.get(2), 3), 1e-5f, "logits of row " + i);
            assertArrayEquals(flat(acts.get("stage1")), TensorEncoding.FLOAT32.decode((byte[]) r.get(3), 2 * 4 * 4), 1e-5f, "tap of row " + i);
        }
        assertEquals(false, out.hasNext());
    }

    /**
     * Transformed taps: the attention map is the per-example L2-normalised mean over channels of the
     * squared activation, [H, W]; a pruned tap is the activation's kept channels in ascending order.
     */
    @Test
    void attentionAndPrunedTapsAreTransformsOfTheActivation() {
        ComputationGraph teacher = new ComputationGraph(ModelZoo.classifier(new ModelSpec("cnn", List.of(4), List.of(1)), SHAPE, 3,
                new TrainSettings(1, 4, 0.01, "constant", 0, 0, 1, 7)));
        teacher.init();
        List<Row> rows = new ArrayList<>();
        byte[][] images = new byte[3][16];
        for (int i = 0; i < images.length; i++) {
            for (int p = 0; p < 16; p++) {
                images[i][p] = (byte) (29 * i + 13 * p + 5);
            }
            rows.add(new GenericRowWithSchema(new Object[]{7L + i, images[i]}, SCHEMA));
        }
        List<TeacherInference.Tap> taps = List.of(TeacherInference.Tap.raw("stage1"), TeacherInference.Tap.attention("stage1"),
                TeacherInference.Tap.pruned("stage1", new int[]{1, 3}), TeacherInference.Tap.pruned("stage1", new int[]{2}));
        TeacherInference inference = new TeacherInference(local(992, Models.toBytes(teacher, false)), SHAPE, taps, true,
                TensorEncoding.FLOAT32, TensorEncoding.FLOAT32, 2);

        Iterator<Row> out = inference.apply(rows.iterator());
        for (int i = 0; i < images.length; i++) {
            Row r = out.next();
            assertEquals(7L + i, r.getLong(0));
            float[] chw = new float[16];
            ExamplesTable.toChw(images[i], SHAPE, chw, 0);
            float[] act = flat(teacher.feedForward(Nd4j.create(chw, new long[]{1, 1, 4, 4}, 'c'), false).get("stage1")); // [4, 4, 4]
            assertArrayEquals(act, TensorEncoding.FLOAT32.decode((byte[]) r.get(3), 64), 1e-5f);

            double[] energy = new double[16];
            for (int c = 0; c < 4; c++) {
                for (int p = 0; p < 16; p++) {
                    energy[p] += act[c * 16 + p] * (double) act[c * 16 + p] / 4;
                }
            }
            double norm = Math.max(Math.sqrt(java.util.Arrays.stream(energy).map(e -> e * e).sum()), 1e-12);
            float[] attention = new float[16];
            for (int p = 0; p < 16; p++) {
                attention[p] = (float) (energy[p] / norm);
            }
            assertTrue(norm > 1e-6, "the test image gives a non-zero map");
            assertArrayEquals(attention, TensorEncoding.FLOAT32.decode((byte[]) r.get(4), 16), 1e-5f, "attention of row " + i);

            float[] kept13 = new float[32];
            System.arraycopy(act, 16, kept13, 0, 16);
            System.arraycopy(act, 48, kept13, 16, 16);
            assertArrayEquals(kept13, TensorEncoding.FLOAT32.decode((byte[]) r.get(5), 32), 0f, "channels 1 and 3 of row " + i);
            assertArrayEquals(java.util.Arrays.copyOfRange(act, 32, 48), TensorEncoding.FLOAT32.decode((byte[]) r.get(6), 16), 0f,
                    "channel 2 of row " + i);
            assertEquals(7, r.length());
        }
        assertEquals(false, out.hasNext());

        // Shapes per example as the manifest records them: [H, W] for attention, [k, H, W] for pruning.
        INDArray batch = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 2, 4, 4, 4);
        assertArrayEquals(new long[]{2, 4, 4}, TeacherInference.transform(taps.get(1), batch).shape());
        assertArrayEquals(new long[]{2, 2, 4, 4}, TeacherInference.transform(taps.get(2), batch).shape());
        assertArrayEquals(new long[]{2, 1, 4, 4}, TeacherInference.transform(taps.get(3), batch).shape());
        var e = org.junit.jupiter.api.Assertions.assertThrows(io.distillery.errors.BadInputException.class,
                () -> TeacherInference.transform(TeacherInference.Tap.attention("pool"), Nd4j.rand(2, 4)));
        assertEquals("precompute.taps: 'pool:attention' needs a feature map [C, H, W] but layer 'pool' gives [4]", e.getMessage());
    }

    private static float[] flat(INDArray a) {
        return a.dup('c').data().asFloat();
    }
}
