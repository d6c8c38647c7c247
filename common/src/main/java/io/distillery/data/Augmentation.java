package io.distillery.data;

import org.apache.spark.sql.Column;
import org.apache.spark.sql.Row;

import java.io.Serializable;

import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.xxhash64;

/**
 * The training augmentation: a random crop with zero padding (a shift of the image by dx, dy in
 * [-cropPad, cropPad], zeros where it leaves the frame) and an optional horizontal flip. Parameters
 * are drawn from a hash of (id, seed, draw) in Spark SQL, where draw is the stored view (precompute)
 * or the epoch (fresh augmentation while training), so a retried task redraws the same ones, and they
 * travel with the row as plain int/boolean columns ({@value #DX}, {@value #DY}, {@value #FLIP}): anyone
 * can rebuild the exact image a teacher saw with {@link #apply}.
 */
public record Augmentation(int cropPad, boolean flip, long seed) implements Serializable {
    public static final String DX = "aug_dx";
    public static final String DY = "aug_dy";
    public static final String FLIP = "aug_flip";
    /** What the three columns mean, for manifests and the README. */
    public static final String REPLAY = "flip horizontally when aug_flip, then out(y, x) = in(y + aug_dy, x + aug_dx), 0 outside the image";

    public Augmentation {
        if (cropPad < 0) {
            throw new IllegalArgumentException("crop padding must be >= 0, got " + cropPad);
        }
    }

    /** dx for (id, draw): xxhash64(id, seed, draw, 1) mod (2 * cropPad + 1) - cropPad. */
    public Column dx(Column id, Column draw) {
        return shift(id, draw, 1).as(DX);
    }

    public Column dy(Column id, Column draw) {
        return shift(id, draw, 2).as(DY);
    }

    /** flip for (id, draw): xxhash64(id, seed, draw, 3) is odd, when flips are on. */
    public Column flip(Column id, Column draw) {
        return (flip ? pmod(xxhash64(id, lit(seed), draw, lit(3)), lit(2)).equalTo(1) : lit(false)).as(FLIP);
    }

    private Column shift(Column id, Column draw, int salt) {
        return pmod(xxhash64(id, lit(seed), draw, lit(salt)), lit(2L * cropPad + 1)).minus(cropPad).cast("int");
    }

    /** Whether rows of this schema carry augmentation parameters (a row built without a schema does not). */
    public static boolean in(org.apache.spark.sql.types.StructType schema) {
        return schema != null && java.util.Arrays.asList(schema.fieldNames()).contains(DX);
    }

    /** The image of a row with (or without) the parameter columns: stored bytes, augmented when the row has them. */
    public static byte[] image(Row row, String imageColumn, ImageShape shape) {
        byte[] hwc = row.getAs(imageColumn);
        if (!in(row.schema())) {
            return hwc;
        }
        return apply(hwc, shape, row.<Integer>getAs(DX), row.<Integer>getAs(DY), row.<Boolean>getAs(FLIP));
    }

    /** The augmented image (HWC bytes): flipped horizontally when {@code flip}, then out(y, x) = in(y + dy, x + dx), 0 outside. */
    public static byte[] apply(byte[] hwc, ImageShape shape, int dx, int dy, boolean flip) {
        int h = shape.height();
        int w = shape.width();
        int c = shape.channels();
        byte[] out = new byte[hwc.length];
        for (int y = 0; y < h; y++) {
            int sy = y + dy;
            if (sy < 0 || sy >= h) {
                continue;
            }
            for (int x = 0; x < w; x++) {
                int sx = x + dx;
                if (sx < 0 || sx >= w) {
                    continue;
                }
                int from = flip ? w - 1 - sx : sx;
                System.arraycopy(hwc, (sy * w + from) * c, out, (y * w + x) * c, c);
            }
        }
        return out;
    }
}
