package io.distillery.jobs.stages;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
        TeacherInference inference = new TeacherInference(local(991, Models.toBytes(teacher, false)), SHAPE, List.of("stage1"), true,
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

    private static float[] flat(INDArray a) {
        return a.dup('c').data().asFloat();
    }
}
