package io.distillery.jobs;

import io.distillery.runtime.Storage;
import io.distillery.table.Manifest;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import static io.distillery.jobs.TestRuns.expectBadInput;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every path on HDFS: an in-process HDFS (Hadoop's MiniDFSCluster, the same Hadoop version as
 * Spark's client) holds a slice of Fashion-MNIST, and the real CLI runs prep, teacher, precompute,
 * distill, distill --baseline and evaluate with {@code data.path} and {@code run-dir} both
 * {@code hdfs://} URIs. Every table, manifest, checkpoint, model and report must be on HDFS, and
 * nothing may appear on the local disk in their place. The CIFAR and image-folder readers read
 * from HDFS too.
 */
class HdfsPipelineTest {
    private static final int TRAIN = 320;
    private static final int TEST = 100;

    @TempDir
    static java.nio.file.Path tmp;
    static MiniDFSCluster cluster;
    static FileSystem fs;
    /** hdfs://127.0.0.1:PORT */
    static String hdfs;
    /** A folder name used nowhere else, so that finding it on the local disk means something leaked there. */
    static String unique;

    @BeforeAll
    static void startHdfs() throws IOException {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, tmp.resolve("minidfs").toString());
        conf.setInt("dfs.replication", 1);
        cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        cluster.waitActive();
        fs = cluster.getFileSystem();
        hdfs = fs.getUri().toString();
        unique = "distillery-hdfs-test-" + UUID.randomUUID();
    }

    @AfterAll
    static void stopHdfs() {
        if (cluster != null) {
            cluster.shutdown(true);
        }
    }

    /** {@code hdfs://host:port/<unique>/<path>} */
    private static String uri(String path) {
        return hdfs + "/" + unique + "/" + path;
    }

    private static String config(String runDir, String dataPath, int limit, String extra) {
        // One HDFS data node: ask for one replica, so no write waits for replicas that cannot exist.
        return TestRuns.config(tmp, runDir, dataPath, limit, """
                distillery.spark.conf { "spark.hadoop.dfs.replication" = "1" }
                distillery.teacher.train.epochs = 1
                distillery.distill.train.epochs = 2
                %s
                """.formatted(extra)).toString();
    }

    @Test
    void pipelineRunsWithEveryPathOnHdfs() throws IOException {
        copyFashionMnistSlice(uri("fashion-mnist"));
        String runDir = uri("run");
        String conf = config(runDir, uri("fashion-mnist"), 0, "");
        for (String[] command : List.of(new String[]{"prep"}, new String[]{"teacher"}, new String[]{"precompute"},
                new String[]{"distill"}, new String[]{"distill", "--baseline"}, new String[]{"evaluate"})) {
            List<String> args = new ArrayList<>(List.of(command));
            args.addAll(List.of("--config", conf));
            TestRuns.Run r = TestRuns.cli(args.toArray(new String[0]));
            assertEquals(0, r.status(), String.join(" ", command) + " failed:\n" + r.err());
        }

        for (String file : List.of("examples/_manifest.json", "teachers/tiny-resnet/model.zip", "teachers/tiny-resnet/_manifest.json",
                "teachers/tiny-resnet/metrics.jsonl", "teachers/tiny-resnet/checkpoints/epoch-0001.zip",
                "teacher-outputs/tiny-resnet/_manifest.json", "students/tiny-cnn/model.zip", "students/tiny-cnn/_manifest.json",
                "students/tiny-cnn/metrics.jsonl", "students/tiny-cnn/checkpoints/epoch-0001.zip",
                "students/tiny-cnn/checkpoints/epoch-0002.zip", "students/tiny-cnn-baseline/model.zip",
                "reports/report.json", "reports/report.md", "reports/_manifest.json", "reports/validation-accuracy.png")) {
            Path p = new Path(runDir + "/" + file);
            assertTrue(fs.exists(p) && fs.getFileStatus(p).isFile(), "missing on HDFS: " + p);
            assertTrue(fs.getFileStatus(p).getLen() > 0, "empty on HDFS: " + p);
        }
        assertTrue(parquetParts(runDir + "/examples") > 0, "no Parquet parts in examples/");
        assertTrue(parquetParts(runDir + "/teacher-outputs/tiny-resnet") > 0, "no Parquet parts in teacher-outputs/");
        assertNoStagingLeft(runDir);

        Storage storage = new Storage(fs.getConf());
        Manifest examples = Manifest.read(storage, runDir + "/examples");
        assertEquals(TRAIN + TEST, examples.rows());
        assertTrue(storage.readString(runDir + "/examples/_manifest.json").contains(uri("fashion-mnist")),
                "the examples' provenance names the HDFS data path");
        Manifest outputs = Manifest.read(storage, runDir + "/teacher-outputs/tiny-resnet");
        Map<String, Number> splits = examples.property("split_counts");
        assertEquals(splits.get("train").longValue(), outputs.rows(), "precompute covers the train split once");
        assertEquals(examples.contentHash(), outputs.property("dataset_hash"));
        Manifest teacher = Manifest.read(storage, runDir + "/teachers/tiny-resnet");
        assertEquals(storage.sha256(runDir + "/teachers/tiny-resnet/model.zip"), teacher.contentHash());
        String report = storage.readString(runDir + "/reports/report.md");
        assertTrue(report.contains("| student | tiny-cnn |"), report);

        assertNothingOnLocalDisk();
    }

    @Test
    void cifarBinaryFilesAreReadFromHdfs() throws IOException {
        String data = uri("cifar10/cifar-10-batches-bin");
        int perFile = 5;
        List<String> files = List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                "data_batch_5.bin", "test_batch.bin");
        for (int f = 0; f < files.size(); f++) {
            byte[] records = new byte[perFile * 3073];
            for (int r = 0; r < perFile; r++) {
                records[r * 3073] = (byte) ((f + r) % 10);
                for (int i = 1; i < 3073; i++) {
                    records[r * 3073 + i] = (byte) (f * 31 + r * 7 + i);
                }
            }
            write(data + "/" + files.get(f), records);
        }
        String runDir = uri("cifar-run");
        TestRuns.Run r = TestRuns.cli("prep", "--config", config(runDir, uri("cifar10"), 0, """
                distillery.data { format = "cifar10", image-size = [32, 32, 3] }
                """));
        assertEquals(0, r.status(), r.err());
        Manifest examples = Manifest.read(new Storage(fs.getConf()), runDir + "/examples");
        assertEquals(6L * perFile, examples.rows());
        Map<String, Number> splits = examples.property("split_counts");
        assertEquals(perFile, splits.get("test").intValue());
        assertTrue(parquetParts(runDir + "/examples") > 0);
        assertNoStagingLeft(runDir);
        assertNothingOnLocalDisk();
    }

    @Test
    void imageFoldersAreReadFromHdfs() throws IOException {
        String data = uri("folder");
        List<String> classes = List.of("boot", "shirt");
        int perClass = 6;
        for (int label = 0; label < classes.size(); label++) {
            for (int i = 0; i < perClass; i++) {
                BufferedImage image = new BufferedImage(12, 10, BufferedImage.TYPE_BYTE_GRAY);
                for (int y = 0; y < 10; y++) {
                    for (int x = 0; x < 12; x++) {
                        image.getRaster().setSample(x, y, 0, (label * 100 + i * 9 + y * 3 + x) & 0xff);
                    }
                }
                ByteArrayOutputStream png = new ByteArrayOutputStream();
                assertTrue(ImageIO.write(image, "png", png));
                write(data + "/" + classes.get(label) + "/img" + i + ".png", png.toByteArray());
            }
        }
        String runDir = uri("folder-run");
        TestRuns.Run r = TestRuns.cli("prep", "--config", config(runDir, data, 0, """
                distillery.data { format = "image-folder", class-names = [] }
                """));
        assertEquals(0, r.status(), r.err());
        Manifest examples = Manifest.read(new Storage(fs.getConf()), runDir + "/examples");
        assertEquals(classes.size() * perClass, examples.rows());
        assertEquals(classes, examples.property("class_names"));
        assertEquals(List.of(10, 12, 1), examples.column("image").shape());
        assertNoStagingLeft(runDir);
        assertNothingOnLocalDisk();
    }

    @Test
    void missingHdfsDataIsOneLineAndLeavesNothing() throws IOException {
        String runDir = uri("missing-run");
        TestRuns.Run r = TestRuns.cli("prep", "--config", config(runDir, uri("no-such-dataset"), 0, ""));
        expectBadInput(r, "dataset path " + uri("no-such-dataset") + " does not exist");
        assertFalse(fs.exists(new Path(runDir + "/examples")), "examples written despite the error");
        assertFalse(fs.exists(new Path(runDir + "/examples.partial")), "staging directory left behind");
    }

    /** The first TRAIN/TEST records of Fashion-MNIST's idx files, gzipped as the originals are, written to {@code dir}. */
    private static void copyFashionMnistSlice(String dir) throws IOException {
        for (String[] pair : new String[][]{{"train", String.valueOf(TRAIN)}, {"t10k", String.valueOf(TEST)}}) {
            int n = Integer.parseInt(pair[1]);
            copyIdx(pair[0] + "-images-idx3-ubyte.gz", dir, n, 3, 28 * 28);
            copyIdx(pair[0] + "-labels-idx1-ubyte.gz", dir, n, 1, 1);
        }
    }

    private static void copyIdx(String name, String dir, int n, int dims, int recordBytes) throws IOException {
        try (DataInputStream in = new DataInputStream(new GZIPInputStream(
                Files.newInputStream(java.nio.file.Path.of(TestRuns.FASHION_MNIST, name))))) {
            ByteArrayOutputStream raw = new ByteArrayOutputStream();
            java.io.DataOutputStream header = new java.io.DataOutputStream(raw);
            header.writeInt(in.readInt());
            in.readInt();
            header.writeInt(n);
            for (int d = 1; d < dims; d++) {
                header.writeInt(in.readInt());
            }
            byte[] records = new byte[n * recordBytes];
            in.readFully(records);
            header.write(records);
            ByteArrayOutputStream gz = new ByteArrayOutputStream();
            try (OutputStream out = new GZIPOutputStream(gz)) {
                raw.writeTo(out);
            }
            write(dir + "/" + name, gz.toByteArray());
        }
    }

    private static void write(String path, byte[] bytes) throws IOException {
        try (OutputStream out = fs.create(new Path(path), true)) {
            out.write(bytes);
        }
    }

    private static int parquetParts(String dir) throws IOException {
        int parts = 0;
        for (var s : fs.listStatus(new Path(dir))) {
            parts += s.getPath().getName().endsWith(".parquet") ? 1 : 0;
        }
        return parts;
    }

    private static void assertNoStagingLeft(String runDir) throws IOException {
        RemoteIterator<LocatedFileStatus> it = fs.listFiles(new Path(runDir), true);
        while (it.hasNext()) {
            String path = it.next().getPath().toString();
            assertFalse(path.contains(".partial/") || path.contains(".replaced/") || path.endsWith(".tmp"),
                    "staging file left on HDFS: " + path);
        }
    }

    /**
     * Run-dir content written through java.io/java.nio instead of Hadoop would land in the working
     * directory (an {@code hdfs:} folder) or, with the scheme dropped, at the same absolute path on
     * the local disk; a Hadoop path stripped of its authority would land under the local root.
     */
    private static void assertNothingOnLocalDisk() throws IOException {
        java.nio.file.Path cwd = java.nio.file.Path.of("").toAbsolutePath();
        assertFalse(Files.exists(cwd.resolve("hdfs:")), "a local folder " + cwd.resolve("hdfs:") + " was created");
        assertFalse(Files.exists(java.nio.file.Path.of("/" + unique)), "run content written to the local /" + unique);
        for (java.nio.file.Path base : List.of(cwd, tmp)) {
            try (var walk = Files.walk(base)) {
                List<java.nio.file.Path> leaked = walk.filter(p -> p.toString().contains(unique)).toList();
                assertTrue(leaked.isEmpty(), "run content on the local disk: " + leaked);
            }
        }
    }
}
