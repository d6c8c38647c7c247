package io.distillery.train;

import io.distillery.data.Augmentation;
import io.distillery.data.ImageShape;
import io.distillery.method.LabelSource;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.explode;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sequence;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Which rows an epoch sees: with K stored views, exactly one view of every example, chosen again
 * each epoch and the same when recomputed; with fresh augmentation, parameters in range, redrawn
 * per epoch, reproducible; and the batches carry the augmented image.
 */
class AugmentedRowBatchesTest {
    private static final int EXAMPLES = 400;
    private static final int VIEWS = 4;
    private static final ImageShape SHAPE = new ImageShape(4, 4, 1);
    private static final Augmentation AUG = new Augmentation(2, true, 11);
    private static SparkSession spark;
    private static Dataset<Row> examples;

    @BeforeAll
    static void start() {
        spark = LocalSpark.start("augmented-row-batches");
        List<Row> rows = new ArrayList<>();
        for (long id = 0; id < EXAMPLES; id++) {
            byte[] image = new byte[16];
            for (int i = 0; i < 16; i++) {
                image[i] = (byte) (i + 1);
            }
            rows.add(RowFactory.create(id, (int) (id % 2), image));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("label", DataTypes.IntegerType).add("image", DataTypes.BinaryType);
        examples = spark.createDataFrame(rows, schema).repartition(2).persist();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    private static BatchAssembler assembler() {
        return new BatchAssembler(SHAPE, List.of(new LabelSource.ClassLabels(2)), 16);
    }

    private static Map<Long, Integer> viewsOf(Dataset<Row> epoch) {
        Map<Long, Integer> seen = new HashMap<>();
        for (Row r : epoch.select("id", "view").collectAsList()) {
            Integer before = seen.put(r.getLong(0), r.getInt(1));
            assertEquals(null, before, "id " + r.getLong(0) + " twice in one epoch");
        }
        return seen;
    }

    @Test
    void storedViewsGiveOneViewPerExamplePerEpochRedrawnEachEpoch() {
        Dataset<Row> stored = examples.withColumn("view", explode(sequence(lit(1), lit(VIEWS))))
                .select(col("id"), col("label"), col("image"), col("view"), AUG.dx(col("id"), col("view")), AUG.dy(col("id"), col("view")),
                        AUG.flip(col("id"), col("view"))).persist();
        RowBatches batches = new RowBatches(stored, stored.count(), assembler(), 3, VIEWS, null);
        assertEquals(EXAMPLES, batches.count());
        Map<Long, Integer> epoch0 = viewsOf(batches.ofEpoch(0));
        Map<Long, Integer> epoch1 = viewsOf(batches.ofEpoch(1));
        assertEquals(EXAMPLES, epoch0.size());
        assertEquals(EXAMPLES, epoch1.size());
        assertEquals(epoch0, viewsOf(batches.ofEpoch(0)), "recomputing an epoch picks the same views");
        assertNotEquals(epoch0, epoch1);
        Set<Integer> used = new HashSet<>(epoch0.values());
        assertEquals(Set.of(1, 2, 3, 4), used);
        for (int v = 1; v <= VIEWS; v++) {
            final int view = v;
            long n = epoch0.values().stream().filter(x -> x == view).count();
            assertTrue(n > EXAMPLES / VIEWS / 2 && n < EXAMPLES / VIEWS * 2, "view " + v + " chosen " + n + " times");
        }
        // Every image in the epoch's batches is its row's augmentation of the stored bytes.
        long augmented = batches.round(0, 0, 1).map(mds -> mds.getFeatures(0).sumNumber().doubleValue()).collect().stream()
                .mapToLong(Math::round).sum();
        long expected = batches.ofEpoch(0).collectAsList().stream().mapToLong(r -> {
            long sum = 0;
            for (byte b : Augmentation.image(r, "image", SHAPE)) {
                sum += b & 0xFF;
            }
            return Math.round(sum / 255.0 * 1e6);
        }).sum();
        assertEquals(expected / 1e6, augmented, EXAMPLES * 1e-3, "the batches hold the augmented images");
    }

    @Test
    void freshAugmentationIsInRangeRedrawnEachEpochAndReproducible() {
        RowBatches batches = new RowBatches(examples, EXAMPLES, assembler(), 3, 0, AUG);
        List<Row> e0 = batches.ofEpoch(0).orderBy("id").collectAsList();
        List<Row> e1 = batches.ofEpoch(1).orderBy("id").collectAsList();
        assertEquals(e0, batches.ofEpoch(0).orderBy("id").collectAsList());
        int differ = 0;
        Set<Integer> shifts = new HashSet<>();
        int flips = 0;
        for (int i = 0; i < EXAMPLES; i++) {
            int dx = e0.get(i).getAs(Augmentation.DX);
            int dy = e0.get(i).getAs(Augmentation.DY);
            assertTrue(Math.abs(dx) <= 2 && Math.abs(dy) <= 2, dx + ", " + dy);
            shifts.add(dx);
            flips += e0.get(i).<Boolean>getAs(Augmentation.FLIP) ? 1 : 0;
            differ += e0.get(i).getAs(Augmentation.DX).equals(e1.get(i).getAs(Augmentation.DX)) ? 0 : 1;
        }
        assertEquals(Set.of(-2, -1, 0, 1, 2), shifts);
        assertTrue(flips > EXAMPLES / 4 && flips < EXAMPLES * 3 / 4, "flips " + flips);
        assertTrue(differ > EXAMPLES / 2, "epoch 1 redraws: " + differ + " of " + EXAMPLES + " shifts changed");
        RowBatches noFlip = new RowBatches(examples, EXAMPLES, assembler(), 3, 0, new Augmentation(1, false, 11));
        assertEquals(0, noFlip.ofEpoch(0).filter(col(Augmentation.FLIP)).count());
    }
}
