package io.distillery.prep.readers;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.prep.readers.CifarBinaryReader.Variant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static io.distillery.prep.readers.TestFiles.concat;
import static io.distillery.prep.readers.TestFiles.firstBytes;
import static io.distillery.prep.readers.TestFiles.readAll;
import static io.distillery.prep.readers.TestFiles.u;
import static io.distillery.prep.readers.TestFiles.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CifarBinaryReaderTest {
    private static final int PLANE = 32 * 32;

    @TempDir
    Path dir;

    /** Value of plane {@code c} at pixel {@code p} of record {@code r}: differs across channels. */
    private static int value(int r, int c, int p) {
        return (c * 85 + p * 3 + r * 11) & 0xff;
    }

    /** One record as the CIFAR file stores it: label byte(s), then the R, G and B planes. */
    private static byte[] record(int r, int... labels) {
        byte[] out = new byte[labels.length + 3 * PLANE];
        for (int i = 0; i < labels.length; i++) {
            out[i] = (byte) labels[i];
        }
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < PLANE; p++) {
                out[labels.length + c * PLANE + p] = (byte) value(r, c, p);
            }
        }
        return out;
    }

    private static void assertHwc(int r, LabeledImage image) {
        byte[] px = image.pixels();
        assertEquals(3 * PLANE, px.length);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(value(r, c, y * 32 + x), u(px[(y * 32 + x) * 3 + c]), "record " + r + " y" + y + " x" + x + " c" + c);
                }
            }
        }
    }

    private ImageSource open(Path file, Variant variant) throws IOException {
        return CifarBinaryReader.open(file.getFileName().toString(), Files.newInputStream(file), Files.size(file), variant);
    }

    @Test
    void cifar10RoundTripConvertsPlanesToHwc() throws IOException {
        Path file = write(dir.resolve("data_batch_1.bin"), concat(record(0, 3), record(1, 0), record(2, 9)));
        try (ImageSource source = open(file, Variant.CIFAR10)) {
            assertEquals(new ImageShape(32, 32, 3), source.shape());
            assertEquals(3, source.size());
            assertEquals("data_batch_1.bin", source.name());
            List<LabeledImage> all = readAll(source);
            assertEquals(List.of(3, 0, 9), all.stream().map(LabeledImage::label).toList());
            for (int r = 0; r < 3; r++) {
                assertHwc(r, all.get(r));
            }
        }
    }

    @Test
    void constantPlanesBecomeInterleavedTriples() throws IOException {
        byte[] rec = new byte[1 + 3 * PLANE];
        Arrays.fill(rec, 1, 1 + PLANE, (byte) 10);
        Arrays.fill(rec, 1 + PLANE, 1 + 2 * PLANE, (byte) 20);
        Arrays.fill(rec, 1 + 2 * PLANE, rec.length, (byte) 200);
        try (ImageSource source = CifarBinaryReader.open("one.bin", TestFiles.stream(rec), rec.length, Variant.CIFAR10)) {
            byte[] px = source.next().pixels();
            for (int p = 0; p < PLANE; p++) {
                assertEquals(10, u(px[3 * p]));
                assertEquals(20, u(px[3 * p + 1]));
                assertEquals(200, u(px[3 * p + 2]));
            }
        }
    }

    @Test
    void cifar100KeepsFineOrCoarseLabel() throws IOException {
        // CIFAR-100 records start with the coarse label, then the fine one.
        Path file = write(dir.resolve("train.bin"), concat(record(0, 19, 99), record(1, 4, 0), record(2, 0, 57)));
        try (ImageSource fine = open(file, Variant.CIFAR100_FINE); ImageSource coarse = open(file, Variant.CIFAR100_COARSE)) {
            List<LabeledImage> f = readAll(fine);
            List<LabeledImage> c = readAll(coarse);
            assertEquals(List.of(99, 0, 57), f.stream().map(LabeledImage::label).toList());
            assertEquals(List.of(19, 4, 0), c.stream().map(LabeledImage::label).toList());
            for (int r = 0; r < 3; r++) {
                assertHwc(r, f.get(r));
                assertArrayEquals(f.get(r).pixels(), c.get(r).pixels());
            }
        }
    }

    @Test
    void lengthNotAMultipleOfRecordSizeIsRefusedAndClosesStream() {
        TestFiles.Tracked in = new TestFiles.Tracked(new byte[0]);
        BadInputException e = assertThrows(BadInputException.class,
                () -> CifarBinaryReader.open("test_batch.bin", in, 3073 * 2 + 5, Variant.CIFAR10));
        assertEquals("test_batch.bin: length 6151 bytes is not a multiple of the CIFAR10 record size 3073 bytes; "
                + "is it a CIFAR-10 binary batch?", e.getMessage());
        assertTrue(in.closed);
    }

    @Test
    void cifar100FileReadAsCifar10IsRefusedByLength() throws IOException {
        Path file = write(dir.resolve("train.bin"), concat(record(0, 1, 2), record(1, 1, 2)));
        BadInputException e = assertThrows(BadInputException.class, () -> open(file, Variant.CIFAR10));
        assertTrue(e.getMessage().startsWith("train.bin: length 6148 bytes ") && e.getMessage().contains("3073"), e.getMessage());
    }

    @Test
    void labelOutOfRangeNamesFileAndRecord() throws IOException {
        Path file = write(dir.resolve("data_batch_2.bin"), concat(record(0, 9), record(1, 10)));
        try (ImageSource source = open(file, Variant.CIFAR10)) {
            assertEquals(9, source.next().label());
            BadInputException e = assertThrows(BadInputException.class, source::next);
            assertEquals("data_batch_2.bin: record 1 has CIFAR10 label 10; expected 0..9. Is the variant right?", e.getMessage());
        }
    }

    @Test
    void cifar100LabelRangesDependOnVariant() throws IOException {
        Path coarseBad = write(dir.resolve("coarse.bin"), record(0, 20, 5));
        Path fineBad = write(dir.resolve("fine.bin"), record(0, 5, 100));
        try (ImageSource s = open(coarseBad, Variant.CIFAR100_COARSE)) {
            BadInputException e = assertThrows(BadInputException.class, s::next);
            assertTrue(e.getMessage().startsWith("coarse.bin: record 0 has CIFAR100_COARSE label 20; expected 0..19"), e.getMessage());
        }
        try (ImageSource s = open(fineBad, Variant.CIFAR100_FINE)) {
            BadInputException e = assertThrows(BadInputException.class, s::next);
            assertTrue(e.getMessage().startsWith("fine.bin: record 0 has CIFAR100_FINE label 100; expected 0..99"), e.getMessage());
        }
        try (ImageSource s = open(fineBad, Variant.CIFAR100_COARSE)) {
            assertEquals(5, s.next().label(), "the coarse byte of the same record is fine");
        }
    }

    @Test
    void streamShorterThanDeclaredLengthFailsMidRecord() throws IOException {
        byte[] data = concat(record(0, 1), record(1, 2), record(2, 3));
        InputStream in = TestFiles.stream(firstBytes(data, 2 * 3073 + 1000));
        try (ImageSource source = CifarBinaryReader.open("cut.bin", in, data.length, Variant.CIFAR10)) {
            source.next();
            source.next();
            BadInputException e = assertThrows(BadInputException.class, source::next);
            assertEquals("cut.bin: file ends inside record 2 (got 1000 of 3073 bytes); the file looks truncated", e.getMessage());
            assertFalse(source.hasNext());
        }
    }

    @Test
    void emptyFileHasNoRecordsAndCloseClosesStream() throws IOException {
        TestFiles.Tracked in = new TestFiles.Tracked(new byte[0]);
        ImageSource source = CifarBinaryReader.open("empty.bin", in, 0, Variant.CIFAR100_FINE);
        assertEquals(0, source.size());
        assertFalse(source.hasNext());
        source.close();
        assertTrue(in.closed);
    }
}
