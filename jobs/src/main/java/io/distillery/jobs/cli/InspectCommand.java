package io.distillery.jobs.cli;

import io.distillery.config.ConfigLoader;
import io.distillery.errors.BadInputException;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/** {@code distill inspect PATH}: a table's schema, counted rows and manifest; or a model directory's manifest. */
@Command(name = "inspect", mixinStandardHelpOptions = true, description = "Print a table's schema, row count and manifest (or a model's manifest).")
final class InspectCommand implements Callable<Integer> {
    @Parameters(paramLabel = "PATH", description = "A table or model directory of a run, e.g. runs/demo/teacher-outputs/resnet")
    String path;

    @Option(names = "--master", paramLabel = "URL", description = "Spark master for counting rows (default local[*]).")
    String master;

    @Override
    public Integer call() {
        var config = ConfigLoader.load(null, null, List.of("spark.app-name=distillery-inspect"));
        SparkSession spark = SparkRuntime.session(config.spark(), master);
        try {
            Storage storage = new Storage(spark.sparkContext().hadoopConfiguration());
            if (!storage.exists(path)) {
                throw new BadInputException("path " + path + " does not exist");
            }
            Manifest manifest = storage.exists(Storage.join(path, Manifest.FILE)) ? Manifest.read(storage, path) : null;
            System.out.println("path: " + storage.qualify(path));
            boolean isTable = !storage.list(path).stream().filter(n -> n.endsWith(".parquet")).toList().isEmpty();
            if (isTable) {
                Dataset<Row> table = spark.read().parquet(path);
                System.out.println("rows: " + table.count() + (manifest == null ? "" : " (manifest: " + manifest.rows() + ")"));
                System.out.println("schema:");
                System.out.print(table.schema().treeString());
            } else if (manifest == null) {
                throw new BadInputException(path + " holds neither Parquet files nor a " + Manifest.FILE);
            }
            System.out.println("manifest:");
            System.out.print(manifest == null ? "(none)\n" : Json.pretty(manifest));
            return 0;
        } finally {
            spark.stop();
        }
    }
}
