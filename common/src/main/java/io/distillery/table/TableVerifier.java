package io.distillery.table;

import io.distillery.errors.BadInputException;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

import java.util.Arrays;

import static org.apache.spark.sql.functions.bit_xor;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.countDistinct;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.xxhash64;

/**
 * The check after every write: one aggregation pass that counts rows and distinct keys and folds
 * an order-independent content hash. A table whose keys repeat is rejected, whatever produced it.
 */
public final class TableVerifier {
    private TableVerifier() {
    }

    public record Stats(long rows, long distinctKeys, String contentHash) {
    }

    public static Stats verify(Dataset<Row> table, String where, String... keyColumns) {
        Column[] all = Arrays.stream(table.columns()).map(c -> col(c)).toArray(Column[]::new);
        Column[] keys = Arrays.stream(keyColumns).map(c -> col(c)).toArray(Column[]::new);
        Row r = table.agg(count(lit(1)), countDistinct(keys[0], Arrays.copyOfRange(keys, 1, keys.length)),
                bit_xor(xxhash64(all))).first();
        long rows = r.getLong(0);
        long distinct = r.getLong(1);
        if (distinct != rows) {
            throw new BadInputException(where + ": " + rows + " rows but " + distinct + " distinct keys " + Arrays.toString(keyColumns)
                    + "; keys must be unique");
        }
        String hash = r.isNullAt(2) ? "xxhash64-xor:0" : String.format("xxhash64-xor:%016x", r.getLong(2));
        return new Stats(rows, distinct, hash);
    }
}
