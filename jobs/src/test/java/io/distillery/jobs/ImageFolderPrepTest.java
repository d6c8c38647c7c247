package io.distillery.jobs;

import io.distillery.prep.Splits;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.distillery.jobs.TestRuns.assertNothingWritten;
import static io.distillery.jobs.TestRuns.expectBadInput;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Image folders (one subfolder per class) through the real {@code prep} command in local[2]: PNGs
 * written here become the examples table, and each kind of bad folder ends with one line naming it,
 * exit status 2 and no output.
 */
class ImageFolderPrepTest {
    private static final List<String> CLASSES = List.of("cat", "dog", "frog");
    private static final int PER_CLASS = 12;
    private static final long SEED = 42;
    /** TestRuns.config's validation fraction and the reference test fraction. */
    private static final double VALIDATION = 0.15;
    private static final double TEST = 0.1;

    @TempDir
    static Path tmp;

    /** Image {@code index} of class {@code label}: every pixel differs, so a row can be matched to its file. */
    private static int pixel(int label, int index, int y, int x) {
        return (label * 85 + index * 7 + y * 3 + x) & 0xff;
    }

    private static BufferedImage gray(int h, int w, int label, int index) {
        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                image.getRaster().setSample(x, y, 0, pixel(label, index, y, x));
            }
        }
        return image;
    }

    private static BufferedImage uniformRgb(int h, int w, int rgb) {
        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                image.setRGB(x, y, rgb);
            }
        }
        return image;
    }

    private static void png(Path file, BufferedImage image) throws IOException {
        Files.createDirectories(file.getParent());
        assertTrue(ImageIO.write(image, "png", file.toFile()), "ImageIO writes png");
    }

    /** {@code classes} subfolders of {@code perClass} 28x28 gray PNGs each, named so that path order is index order. */
    private static Path grayFolder(String name, List<String> classes, int perClass) throws IOException {
        Path root = tmp.resolve(name);
        for (int label = 0; label < classes.size(); label++) {
            for (int i = 0; i < perClass; i++) {
                png(root.resolve(classes.get(label)).resolve(String.format("img%02d.png", i)), gray(28, 28, label, i));
            }
        }
        return root;
    }

    /** Runs {@code prep} on {@code data} as an image folder, writing to {@code runDir}. */
    private static TestRuns.Run prep(Path data, Path runDir, String... sets) {
        Path config = TestRuns.config(tmp, runDir, 0, "distillery.data { format = \"image-folder\", path = \"" + data + "\" }");
        List<String> args = new ArrayList<>(List.of("prep", "--config", config.toString()));
        for (String set : sets) {
            args.add("--set");
            args.add(set);
        }
        return TestRuns.cli(args.toArray(new String[0]));
    }

    private static List<Row> rowsById(Path table) {
        SparkSession spark = SparkSession.builder().master("local[1]").appName("check").getOrCreate();
        try {
            return spark.read().parquet(table.toString()).orderBy(ExamplesTable.ID).collectAsList();
        } finally {
            spark.stop();
        }
    }

    /**
     * Without data.image-size the images keep their own shape (28x28, gray: 1 channel); ids follow
     * the class folders in name order, then file names, and splits follow the id hash.
     */
    @Test
    void grayFolderBecomesTheExamplesTable() throws IOException {
        Path runDir = tmp.resolve("gray-run");
        TestRuns.Run r = prep(grayFolder("gray", CLASSES, PER_CLASS), runDir);
        assertEquals(0, r.status(), r.err());

        Manifest manifest = Manifest.read(Storage.local(), runDir.resolve("examples").toString());
        int total = CLASSES.size() * PER_CLASS;
        assertEquals(total, manifest.rows());
        assertEquals(CLASSES, manifest.property("class_names"));
        assertEquals(List.of(28, 28, 1), manifest.column(ExamplesTable.IMAGE).shape());
        Map<String, Long> expectedSplits = new LinkedHashMap<>();
        for (long id = 0; id < total; id++) {
            expectedSplits.merge(Splits.assign(id, SEED, VALIDATION, TEST), 1L, Long::sum);
        }
        Map<String, Number> splits = manifest.property("split_counts");
        for (String split : ExamplesTable.SPLITS) {
            assertEquals(expectedSplits.getOrDefault(split, 0L), splits.get(split).longValue(), split);
        }
        assertTrue(splits.get("train").longValue() > 0, "no training images: " + splits);

        List<Row> rows = rowsById(runDir.resolve("examples"));
        assertEquals(total, rows.size());
        for (int id = 0; id < total; id++) {
            Row row = rows.get(id);
            int label = id / PER_CLASS;
            assertEquals(id, row.getLong(row.fieldIndex(ExamplesTable.ID)));
            assertEquals(label, row.getInt(row.fieldIndex(ExamplesTable.LABEL)), "label of id " + id);
            assertEquals(Splits.assign(id, SEED, VALIDATION, TEST), row.getString(row.fieldIndex(ExamplesTable.SPLIT)));
            byte[] expected = new byte[28 * 28];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = (byte) pixel(label, id % PER_CLASS, i / 28, i % 28);
            }
            assertArrayEquals(expected, row.getAs(ExamplesTable.IMAGE), "pixels of id " + id);
        }
        try (var listing = Files.list(runDir)) {
            assertTrue(listing.noneMatch(p -> p.getFileName().toString().endsWith(".partial")), "a staging directory was left behind");
        }
    }

    /** With data.image-size set, images of any size and colour are converted to it. */
    @Test
    void mixedSizesAreResizedWhenImageSizeIsSet() throws IOException {
        Path data = tmp.resolve("mixed-resized");
        int[] colours = {0xc80a14, 0x1e8c3c};
        for (int label = 0; label < colours.length; label++) {
            png(data.resolve("c" + label).resolve("small.png"), uniformRgb(20, 30, colours[label]));
            png(data.resolve("c" + label).resolve("square.png"), uniformRgb(28, 28, colours[label]));
            png(data.resolve("c" + label).resolve("tall.png"), uniformRgb(40, 16, colours[label]));
        }
        Path runDir = tmp.resolve("mixed-resized-run");
        TestRuns.Run r = prep(data, runDir, "data.image-size=[14, 14, 3]");
        assertEquals(0, r.status(), r.err());

        Manifest manifest = Manifest.read(Storage.local(), runDir.resolve("examples").toString());
        assertEquals(6, manifest.rows());
        assertEquals(List.of(14, 14, 3), manifest.column(ExamplesTable.IMAGE).shape());
        for (Row row : rowsById(runDir.resolve("examples"))) {
            int colour = colours[row.getInt(row.fieldIndex(ExamplesTable.LABEL))];
            byte[] expected = new byte[14 * 14 * 3];
            for (int i = 0; i < expected.length; i += 3) {
                expected[i] = (byte) (colour >> 16);
                expected[i + 1] = (byte) (colour >> 8);
                expected[i + 2] = (byte) colour;
            }
            assertArrayEquals(expected, row.getAs(ExamplesTable.IMAGE), "pixels of id " + row.getLong(0));
        }
    }

    /** Found by the Spark task decoding it (not the folder's first image), reported by the driver. */
    @Test
    void fileThatIsNotAnImage() throws IOException {
        Path data = grayFolder("garbage", List.of("cat", "dog"), 3);
        byte[] garbage = new byte[300];
        Arrays.fill(garbage, (byte) 0x5a);
        Files.write(data.resolve("dog/zz-broken.png"), garbage);
        Path runDir = tmp.resolve("garbage-run");
        expectBadInput(prep(data, runDir), "dog/zz-broken.png", "not a PNG or JPEG");
        assertNothingWritten(runDir);
    }

    /** The first image fixes the shape when data.image-size is not set; found on the driver. */
    @Test
    void firstFileThatIsNotAnImage() throws IOException {
        Path data = grayFolder("garbage-first", List.of("cat", "dog"), 3);
        Files.write(data.resolve("cat/000-broken.png"), "not an image".getBytes());
        Path runDir = tmp.resolve("garbage-first-run");
        expectBadInput(prep(data, runDir), "cat/000-broken.png", "not a PNG or JPEG");
        assertNothingWritten(runDir);
    }

    @Test
    void mixedSizesWithoutImageSize() throws IOException {
        Path data = grayFolder("mixed", List.of("cat", "dog"), 3);
        png(data.resolve("dog/odd.png"), gray(20, 24, 1, 0));
        Path runDir = tmp.resolve("mixed-run");
        expectBadInput(prep(data, runDir), "dog/odd.png", "20x24x1", "28x28x1", "data.image-size");
        assertNothingWritten(runDir);
    }

    @Test
    void emptyClassFolder() throws IOException {
        Path data = grayFolder("empty-class", List.of("cat", "dog"), 3);
        Files.createDirectories(data.resolve("lynx"));
        Files.writeString(data.resolve("lynx/notes.txt"), "no images yet");
        Path runDir = tmp.resolve("empty-class-run");
        expectBadInput(prep(data, runDir), "class folder lynx", "no png/jpg/jpeg images");
        assertNothingWritten(runDir);
    }
}
