package io.distillery.table;

import io.distillery.errors.BadInputException;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.util.ArrayList;
import java.util.List;

/**
 * Teacher outputs, keyed by (id, view): the logits and one binary column per tap spec (a teacher
 * layer, raw or transformed: see {@link TapSpec}). View 0 is the plain image; views 1..K are
 * reserved for stored augmentations (none are written yet). Each tensor column's encoding, shape,
 * byte order, source layer and transform are in the manifest.
 */
public final class TeacherOutputsTable {
    public static final String KIND = "teacher-outputs";
    public static final String ID = "id";
    public static final String VIEW = "view";
    public static final String LOGITS = "logits";
    public static final String TAP_PREFIX = "tap_";

    private TeacherOutputsTable() {
    }

    /** Column name of a tap spec string: Spark and SQL dislike dots, dashes, colons and '=' in names. */
    public static String tapColumn(String tap) {
        return TAP_PREFIX + tap.replaceAll("[^A-Za-z0-9_]", "_");
    }

    /** The schema for the given {@code precompute.taps} entries (spec strings, e.g. {@code stage2:attention}). */
    public static StructType schema(List<String> taps) {
        return schemaOf(TapSpec.parseAll("precompute.taps", taps));
    }

    public static StructType schemaOf(List<TapSpec> taps) {
        return schemaOf(taps, false);
    }

    /**
     * K for a table of stored augmented views (rows are views 1..K of each example, with their
     * augmentation columns), 0 for one plain row (view 0) per example.
     */
    public static int storedViews(Manifest outputs) {
        boolean augmented = outputs.columns().stream().anyMatch(c -> c.name().equals(io.distillery.data.Augmentation.DX));
        return augmented ? ((Number) outputs.properties().get("views")).intValue() : 0;
    }

    /** With {@code views}: the stored augmentation of each view after its number (aug_dx, aug_dy int32, aug_flip boolean). */
    public static StructType schemaOf(List<TapSpec> taps, boolean views) {
        List<StructField> fields = new ArrayList<>();
        fields.add(DataTypes.createStructField(ID, DataTypes.LongType, false));
        fields.add(DataTypes.createStructField(VIEW, DataTypes.IntegerType, false));
        if (views) {
            fields.add(DataTypes.createStructField(io.distillery.data.Augmentation.DX, DataTypes.IntegerType, false));
            fields.add(DataTypes.createStructField(io.distillery.data.Augmentation.DY, DataTypes.IntegerType, false));
            fields.add(DataTypes.createStructField(io.distillery.data.Augmentation.FLIP, DataTypes.BooleanType, false));
        }
        fields.add(DataTypes.createStructField(LOGITS, DataTypes.BinaryType, false));
        for (TapSpec tap : taps) {
            fields.add(DataTypes.createStructField(tap.column(), DataTypes.BinaryType, false));
        }
        return new StructType(fields.toArray(new StructField[0]));
    }

    /**
     * The manifest's column of the given tap spec ({@code stage3}, {@code stage2:attention},
     * {@code stage1:prune-l1=16}): the column whose source layer and transform match. A raw spec
     * matches the tap columns of tables written before transforms existed.
     */
    public static ColumnSpec tap(Manifest manifest, String tap) {
        return tap(manifest, tap, "");
    }

    /** As {@link #tap(Manifest, String)}, among the columns of one ensemble member ({@code prefix} from {@link #memberPrefix}). */
    public static ColumnSpec tap(Manifest manifest, String tap, String prefix) {
        TapSpec wanted = TapSpec.parseIn("teacher outputs: ", tap);
        return manifest.columns().stream().filter(c -> c.tap() != null && c.name().startsWith(prefix + TAP_PREFIX) && wanted.equals(c.tapSpec()))
                .findFirst()
                .orElseThrow(() -> new BadInputException("teacher outputs have no tap '" + wanted + "'; stored taps: " + storedTaps(manifest)
                        + " (add it to precompute.taps and run precompute again)"));
    }

    /** The tap specs a table holds, as config strings. */
    public static List<String> storedTaps(Manifest manifest) {
        return manifest.columns().stream().filter(c -> c.tap() != null).map(c -> c.tapSpec().toString()).distinct().toList();
    }

    /**
     * Column-name prefix of one member teacher in an ensemble table: the name with characters other
     * than letters, digits and '_' replaced by '_', then "__" ({@code cnn-a} gives {@code cnn_a__logits},
     * {@code cnn_a__tap_stage3}).
     */
    public static String memberPrefix(String teacher) {
        return teacher.replaceAll("[^A-Za-z0-9_]", "_") + "__";
    }
}
