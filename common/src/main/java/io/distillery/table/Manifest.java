package io.distillery.table;

import io.distillery.runtime.Storage;

import java.util.List;
import java.util.Map;

/**
 * The {@code _manifest.json} sidecar of every table and model directory. Spark, DuckDB and pyarrow
 * skip files starting with '_', so it sits beside the Parquet parts without disturbing readers.
 *
 * @param kind          examples | teacher-outputs | model
 * @param rows          verified row count (0 for models)
 * @param contentHash   order-independent hash of the rows: XOR of Spark's xxhash64 over all columns
 * @param columns       how to decode each column (empty for models)
 * @param properties    kind-specific facts: class names, split counts, image shape, taps, parameters
 * @param provenance    how it was made
 */
public record Manifest(String kind, int formatVersion, long rows, String contentHash, List<ColumnSpec> columns,
                       Map<String, Object> properties, Provenance provenance) {
    public static final String FILE = "_manifest.json";
    public static final int FORMAT_VERSION = 1;

    public static Manifest read(Storage storage, String dir) {
        String path = Storage.join(dir, FILE);
        return Json.read(storage.readString(path), Manifest.class, path);
    }

    public void write(Storage storage, String dir) {
        storage.writeString(Storage.join(dir, FILE), Json.pretty(this));
    }

    public ColumnSpec column(String name) {
        return columns.stream().filter(c -> c.name().equals(name)).findFirst()
                .orElseThrow(() -> new io.distillery.errors.BadInputException("manifest has no column '" + name + "'; columns: "
                        + columns.stream().map(ColumnSpec::name).toList()));
    }

    @SuppressWarnings("unchecked")
    public <T> T property(String key) {
        return (T) properties.get(key);
    }
}
