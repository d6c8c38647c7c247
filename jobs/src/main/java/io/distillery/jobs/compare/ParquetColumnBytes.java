package io.distillery.jobs.compare;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;

/** Bytes each column occupies on disk (compressed column chunks), summed over a table's Parquet files, read from the footers only. */
final class ParquetColumnBytes {
    private ParquetColumnBytes() {
    }

    static Map<String, Long> of(Configuration conf, String dir) {
        Map<String, Long> bytes = new HashMap<>();
        try {
            Path path = new Path(dir);
            FileSystem fs = path.getFileSystem(conf);
            for (FileStatus file : fs.listStatus(path, p -> p.getName().endsWith(".parquet"))) {
                try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromStatus(file, conf))) {
                    for (BlockMetaData block : reader.getFooter().getBlocks()) {
                        for (ColumnChunkMetaData column : block.getColumns()) {
                            bytes.merge(column.getPath().toDotString(), column.getTotalSize(), Long::sum);
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading Parquet footers under " + dir, e);
        }
        return bytes;
    }
}
