package io.distillery.table;

import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.util.ArrayList;
import java.util.List;

/**
 * Teacher outputs, keyed by (id, view): the logits and one binary column per tap. View 0 is the
 * plain image; views 1..K are reserved for stored augmentations (none are written yet). Each tensor
 * column's encoding, shape and byte order are in the manifest.
 */
public final class TeacherOutputsTable {
    public static final String KIND = "teacher-outputs";
    public static final String ID = "id";
    public static final String VIEW = "view";
    public static final String LOGITS = "logits";
    public static final String TAP_PREFIX = "tap_";

    private TeacherOutputsTable() {
    }

    /** Column name of a tap: Spark and SQL dislike dots and dashes in names. */
    public static String tapColumn(String tap) {
        return TAP_PREFIX + tap.replaceAll("[^A-Za-z0-9_]", "_");
    }

    public static StructType schema(List<String> taps) {
        List<StructField> fields = new ArrayList<>();
        fields.add(DataTypes.createStructField(ID, DataTypes.LongType, false));
        fields.add(DataTypes.createStructField(VIEW, DataTypes.IntegerType, false));
        fields.add(DataTypes.createStructField(LOGITS, DataTypes.BinaryType, false));
        for (String tap : taps) {
            fields.add(DataTypes.createStructField(tapColumn(tap), DataTypes.BinaryType, false));
        }
        return new StructType(fields.toArray(new StructField[0]));
    }

    /** The manifest's column of the given tap (by layer name). */
    public static ColumnSpec tap(Manifest manifest, String tap) {
        return manifest.columns().stream().filter(c -> tap.equals(c.tap())).findFirst()
                .orElseThrow(() -> new io.distillery.errors.BadInputException("teacher outputs have no tap '" + tap + "'; stored taps: "
                        + manifest.columns().stream().filter(c -> c.tap() != null).map(ColumnSpec::tap).toList()));
    }
}
