package io.distillery.prep.readers;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;

import static io.distillery.prep.readers.TestFiles.assertOneLine;
import static io.distillery.prep.readers.TestFiles.concat;
import static io.distillery.prep.readers.TestFiles.firstBytes;
import static io.distillery.prep.readers.TestFiles.gzip;
import static io.distillery.prep.readers.TestFiles.intBigEndian;
import static io.distillery.prep.readers.TestFiles.readAll;
import static io.distillery.prep.readers.TestFiles.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdxReaderTest {
    private static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

    @TempDir
    Path dir;

    /** A synthetic idx pair with pseudo-random pixels and labels that use the high bit too. */
    record Idx(int rows, int cols, byte[][] images, int[] labels) {
        static Idx random(int n, int rows, int cols, long seed) {
            Random random = new Random(seed);
            byte[][] images = new byte[n][rows * cols];
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) {
                random.nextBytes(images[i]);
                labels[i] = (i * 37 + 200) % 256;
            }
            return new Idx(rows, cols, images, labels);
        }

        byte[] imagesFile() {
            byte[] out = concat(intBigEndian(0x803), intBigEndian(images.length), intBigEndian(rows), intBigEndian(cols));
            for (byte[] image : images) {
                out = concat(out, image);
            }
            return out;
        }

        byte[] labelsFile() {
            byte[] out = concat(intBigEndian(0x801), intBigEndian(labels.length));
            byte[] body = new byte[labels.length];
            for (int i = 0; i < labels.length; i++) {
                body[i] = (byte) labels[i];
            }
            return concat(out, body);
        }

        void assertMatches(List<LabeledImage> read) {
            assertEquals(images.length, read.size());
            for (int i = 0; i < images.length; i++) {
                assertEquals(new LabeledImage(labels[i], images[i]), read.get(i), "record " + i);
            }
        }
    }

    private ImageSource open(Path images, Path labels) throws IOException {
        return IdxReader.open(images.getFileName().toString(), Files.newInputStream(images),
                labels.getFileName().toString(), Files.newInputStream(labels));
    }

    @Test
    void plainFilesRoundTripExactly() throws IOException {
        Idx idx = Idx.random(5, 3, 4, 1);
        Path images = write(dir.resolve("imgs-idx3-ubyte"), idx.imagesFile());
        Path labels = write(dir.resolve("lbls-idx1-ubyte"), idx.labelsFile());
        try (ImageSource source = open(images, labels)) {
            assertEquals(new ImageShape(3, 4, 1), source.shape());
            assertEquals(5, source.size());
            assertTrue(source.name().contains("imgs-idx3-ubyte") && source.name().contains("lbls-idx1-ubyte"));
            idx.assertMatches(readAll(source));
            assertFalse(source.hasNext());
            assertThrows(NoSuchElementException.class, source::next);
        }
    }

    @Test
    void gzipIsDetectedByContentNotExtension() throws IOException {
        Idx idx = Idx.random(7, 5, 2, 2);
        // Gzipped data without .gz, and plain data with .gz: only the magic bytes may decide.
        Path images = write(dir.resolve("images.idx"), gzip(idx.imagesFile()));
        Path labels = write(dir.resolve("labels.gz"), idx.labelsFile());
        try (ImageSource source = open(images, labels)) {
            assertEquals(new ImageShape(5, 2, 1), source.shape());
            idx.assertMatches(readAll(source));
        }
    }

    @Test
    void bothGzippedRoundTripExactly() throws IOException {
        Idx idx = Idx.random(50, 28, 28, 3);
        Path images = write(dir.resolve("train-images-idx3-ubyte.gz"), gzip(idx.imagesFile()));
        Path labels = write(dir.resolve("train-labels-idx1-ubyte.gz"), gzip(idx.labelsFile()));
        try (ImageSource source = open(images, labels)) {
            assertEquals(new ImageShape(28, 28, 1), source.shape());
            assertEquals(50, source.size());
            idx.assertMatches(readAll(source));
        }
    }

    @Test
    void trailingBytesAreIgnored() throws IOException {
        Idx idx = Idx.random(4, 2, 2, 4);
        byte[] garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};
        Path images = write(dir.resolve("images"), concat(idx.imagesFile(), garbage));
        Path labels = write(dir.resolve("labels.gz"), concat(gzip(idx.labelsFile()), garbage));
        try (ImageSource source = open(images, labels)) {
            idx.assertMatches(readAll(source));
        }
    }

    @Test
    void wrongImagesMagicIsRefusedOnOpenAndClosesStreams() {
        Idx idx = Idx.random(3, 2, 2, 5);
        TestFiles.Tracked images = new TestFiles.Tracked(idx.labelsFile());
        TestFiles.Tracked labels = new TestFiles.Tracked(idx.labelsFile());
        BadInputException e = assertThrows(BadInputException.class,
                () -> IdxReader.open("swapped-images.idx", images, "labels.idx", labels));
        assertTrue(e.getMessage().startsWith("swapped-images.idx: "), e.getMessage());
        assertTrue(e.getMessage().contains("expected magic number 0x00000803, got 0x00000801"), e.getMessage());
        assertOneLine(e);
        assertTrue(images.closed && labels.closed, "streams closed after a refused open");
    }

    @Test
    void wrongLabelsMagicIsRefusedOnOpen() {
        Idx idx = Idx.random(3, 2, 2, 6);
        BadInputException e = assertThrows(BadInputException.class, () -> IdxReader.open(
                "images.idx", TestFiles.stream(idx.imagesFile()), "labels.gz", TestFiles.stream(gzip(idx.imagesFile()))));
        assertTrue(e.getMessage().startsWith("labels.gz: "), e.getMessage());
        assertTrue(e.getMessage().contains("expected magic number 0x00000801, got 0x00000803"), e.getMessage());
    }

    @Test
    void countMismatchNamesBothFilesAndCounts() {
        Idx images = Idx.random(5, 2, 2, 7);
        Idx labels = Idx.random(4, 2, 2, 7);
        BadInputException e = assertThrows(BadInputException.class, () -> IdxReader.open(
                "a-images.idx", TestFiles.stream(images.imagesFile()), "b-labels.idx", TestFiles.stream(labels.labelsFile())));
        assertEquals("a-images.idx holds 5 images but b-labels.idx holds 4 labels; expected the same count", e.getMessage());
    }

    @Test
    void truncatedHeaderIsRefusedOnOpen() {
        Idx idx = Idx.random(3, 2, 2, 8);
        BadInputException e = assertThrows(BadInputException.class, () -> IdxReader.open(
                "short.idx", TestFiles.stream(firstBytes(idx.imagesFile(), 10)), "labels.idx", TestFiles.stream(idx.labelsFile())));
        assertEquals("short.idx: file ends inside the idx dimensions (got 6 of 12 bytes); the file looks truncated", e.getMessage());
    }

    @Test
    void zeroRowsAreRefusedOnOpen() {
        byte[] header = concat(intBigEndian(0x803), intBigEndian(1), intBigEndian(0), intBigEndian(28));
        BadInputException e = assertThrows(BadInputException.class, () -> IdxReader.open(
                "flat.idx", TestFiles.stream(header), "labels.idx", TestFiles.stream(Idx.random(1, 1, 1, 0).labelsFile())));
        assertTrue(e.getMessage().startsWith("flat.idx: ") && e.getMessage().contains("rows 0"), e.getMessage());
    }

    @Test
    void truncatedPlainImagesFailAtTheRecordWhereDataEnds() throws IOException {
        Idx idx = Idx.random(5, 3, 4, 9);
        byte[] whole = idx.imagesFile();
        Path images = write(dir.resolve("cut-images"), firstBytes(whole, 16 + 2 * 12 + 5));
        Path labels = write(dir.resolve("labels"), idx.labelsFile());
        try (ImageSource source = open(images, labels)) {
            assertEquals(5, source.size(), "the header still promises 5 records");
            source.next();
            source.next();
            BadInputException e = assertThrows(BadInputException.class, source::next);
            assertEquals("cut-images: file ends inside record 2 (got 5 of 12 bytes); the file looks truncated", e.getMessage());
        }
    }

    @Test
    void truncatedLabelsNameTheLabelsFile() throws IOException {
        Idx idx = Idx.random(5, 2, 2, 10);
        Path images = write(dir.resolve("images"), idx.imagesFile());
        Path labels = write(dir.resolve("cut-labels"), firstBytes(idx.labelsFile(), 8 + 3));
        try (ImageSource source = open(images, labels)) {
            for (int i = 0; i < 3; i++) {
                source.next();
            }
            BadInputException e = assertThrows(BadInputException.class, source::next);
            assertTrue(e.getMessage().startsWith("cut-labels: file ends inside record 3 "), e.getMessage());
        }
    }

    @Test
    void truncatedGzipIsTranslatedAndNamesFileAndRecord() throws IOException {
        Idx idx = Idx.random(200, 28, 28, 11);
        byte[] gz = gzip(idx.imagesFile());
        Path images = write(dir.resolve("half-images.gz"), firstBytes(gz, gz.length / 2));
        Path labels = write(dir.resolve("labels.gz"), gzip(idx.labelsFile()));
        try (ImageSource source = open(images, labels)) {
            assertEquals(200, source.size());
            int read = 0;
            BadInputException e = null;
            while (e == null) {
                try {
                    assertEquals(new LabeledImage(idx.labels()[read], idx.images()[read]), source.next());
                    read++;
                } catch (BadInputException thrown) {
                    e = thrown;
                }
            }
            // Random pixels do not compress, so half the gzip holds about half the records.
            assertTrue(read > 50 && read < 150, "records before the cut: " + read);
            assertTrue(e.getMessage().startsWith("half-images.gz: data ends inside record " + read + " "), e.getMessage());
            assertTrue(e.getMessage().contains("gzip"), e.getMessage());
            assertOneLine(e);
        }
    }

    @Test
    void closeClosesBothStreams() throws IOException {
        Idx idx = Idx.random(2, 2, 2, 12);
        TestFiles.Tracked images = new TestFiles.Tracked(gzip(idx.imagesFile()));
        TestFiles.Tracked labels = new TestFiles.Tracked(idx.labelsFile());
        IdxReader.open("i", images, "l", labels).close();
        assertTrue(images.closed && labels.closed);
    }

    @Test
    void readsRealFashionMnistTestSet() throws IOException {
        Path images = FASHION_MNIST.resolve("t10k-images-idx3-ubyte.gz");
        Path labels = FASHION_MNIST.resolve("t10k-labels-idx1-ubyte.gz");
        int[] perClass = new int[10];
        try (ImageSource source = open(images, labels)) {
            assertEquals(new ImageShape(28, 28, 1), source.shape());
            assertEquals(10_000, source.size());
            LabeledImage first = source.next();
            assertEquals(9, first.label(), "the first t10k item is an ankle boot");
            assertEquals(784, first.pixels().length);
            perClass[first.label()]++;
            source.forEachRemaining(r -> perClass[r.label()]++);
        }
        // Fashion-MNIST's test set is balanced: 1000 images of each of its 10 classes.
        assertArrayEquals(new int[] {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, perClass);
    }
}
