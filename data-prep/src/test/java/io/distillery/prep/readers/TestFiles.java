package io.distillery.prep.readers;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertFalse;

/** Byte-level helpers shared by the reader tests. */
final class TestFiles {
    private TestFiles() {
    }

    static byte[] gzip(byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static byte[] firstBytes(byte[] data, int n) {
        return Arrays.copyOf(data, n);
    }

    static byte[] intBigEndian(int v) {
        return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
    }

    static Path write(Path file, byte[] data) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.write(file, data);
    }

    static List<LabeledImage> readAll(ImageSource source) {
        List<LabeledImage> all = new ArrayList<>();
        source.forEachRemaining(all::add);
        return all;
    }

    /** An in-memory stream that remembers whether it was closed. */
    static final class Tracked extends FilterInputStream {
        boolean closed;

        Tracked(byte[] data) {
            super(new ByteArrayInputStream(data));
        }

        static Tracked of(Path file) throws IOException {
            return new Tracked(Files.readAllBytes(file));
        }

        @Override
        public void close() throws IOException {
            closed = true;
            super.close();
        }
    }

    /** User errors must print as one line. */
    static void assertOneLine(Exception e) {
        assertFalse(e.getMessage().contains("\n"), "one-line message: " + e.getMessage());
    }

    /** Returns an unsigned byte as an int, for readable assertions. */
    static int u(byte b) {
        return b & 0xff;
    }

    static InputStream stream(byte[] data) {
        return new ByteArrayInputStream(data);
    }
}
