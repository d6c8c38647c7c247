package io.distillery.table;

import io.distillery.data.ImageShape;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.util.List;

/**
 * The examples table: one row per image. {@code image} holds the raw pixels as unsigned bytes in
 * HWC order (shape in the manifest), so a reader needs no image codec: numpy
 * {@code np.frombuffer(b, np.uint8).reshape(h, w, c)}.
 */
public final class ExamplesTable {
    public static final String KIND = "examples";
    public static final String ID = "id";
    public static final String SPLIT = "split";
    public static final String LABEL = "label";
    public static final String IMAGE = "image";
    public static final List<String> SPLITS = List.of("train", "validation", "test");

    public static final StructType SCHEMA = new StructType(new StructField[]{
            DataTypes.createStructField(ID, DataTypes.LongType, false),
            DataTypes.createStructField(SPLIT, DataTypes.StringType, false),
            DataTypes.createStructField(LABEL, DataTypes.IntegerType, false),
            DataTypes.createStructField(IMAGE, DataTypes.BinaryType, false)});

    private ExamplesTable() {
    }

    public static List<ColumnSpec> columns(ImageShape shape) {
        return List.of(
                ColumnSpec.plain(ID, "int64", "example id, unique across splits, stable across runs"),
                ColumnSpec.plain(SPLIT, "string", "train | validation | test"),
                ColumnSpec.plain(LABEL, "int32", "class index; names in properties.class_names"),
                new ColumnSpec(IMAGE, "binary", "uint8", List.of(shape.height(), shape.width(), shape.channels()), "HWC", null,
                        "raw pixels, row-major, channels last"));
    }

    public static ImageShape shape(Manifest manifest) {
        List<Integer> s = manifest.column(IMAGE).shape();
        return new ImageShape(s.get(0), s.get(1), s.get(2));
    }

    @SuppressWarnings("unchecked")
    public static List<String> classNames(Manifest manifest) {
        return (List<String>) manifest.properties().get("class_names");
    }

    /**
     * Writes one image into a float NCHW buffer at {@code offset}, scaled to [0, 1]: the input every
     * model in Distillery sees.
     */
    public static void toChw(byte[] hwc, ImageShape shape, float[] dst, int offset) {
        int h = shape.height();
        int w = shape.width();
        int c = shape.channels();
        if (hwc.length != h * w * c) {
            throw new IllegalArgumentException("image has " + hwc.length + " bytes, expected " + (h * w * c) + " for " + shape);
        }
        int plane = h * w;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int src = (y * w + x) * c;
                int pix = y * w + x;
                for (int ch = 0; ch < c; ch++) {
                    dst[offset + ch * plane + pix] = (hwc[src + ch] & 0xFF) / 255f;
                }
            }
        }
    }
}
