package io.distillery.prep.readers;

import io.distillery.errors.BadInputException;

import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Stream helpers shared by the binary readers, so that short reads and broken gzip data are reported
 * the same way everywhere: as one line naming the file and the record where the data ran out.
 */
final class Streams {
    static final int BUFFER_BYTES = 1 << 16;

    private Streams() {
    }

    /**
     * Buffers {@code in} and, when it starts with the gzip magic 0x1f 0x8b, decompresses it. The
     * content decides, not the file name, because renamed and re-hosted copies lose their extensions.
     */
    static InputStream maybeGunzip(String name, InputStream in) throws IOException {
        InputStream buffered = in instanceof BufferedInputStream ? in : new BufferedInputStream(in, BUFFER_BYTES);
        buffered.mark(2);
        int b0 = buffered.read();
        int b1 = buffered.read();
        buffered.reset();
        if (b0 != 0x1f || b1 != 0x8b) {
            return buffered;
        }
        try {
            return new BufferedInputStream(new GZIPInputStream(buffered, BUFFER_BYTES), BUFFER_BYTES);
        } catch (EOFException | ZipException e) {
            throw brokenGzip(name, "the gzip header", e);
        }
    }

    /** Fills {@code buf} with record {@code recordIndex}, or says where and how the data ended. */
    static void readFully(String name, InputStream in, byte[] buf, long recordIndex) throws IOException {
        readFully(name, in, buf, "record " + recordIndex);
    }

    /** As {@link #readFully(String, InputStream, byte[], long)}, with {@code where} naming the part read. */
    static void readFully(String name, InputStream in, byte[] buf, String where) throws IOException {
        int got = 0;
        try {
            while (got < buf.length) {
                int n = in.read(buf, got, buf.length - got);
                if (n < 0) {
                    throw new BadInputException(String.format(
                            "%s: file ends inside %s (got %d of %d bytes); the file looks truncated",
                            name, where, got, buf.length));
                }
                got += n;
            }
        } catch (EOFException | ZipException e) {
            throw brokenGzip(name, where, e);
        }
    }

    /** Reads a big-endian 32-bit integer, the byte order of the idx and similar headers. */
    static int readIntBigEndian(byte[] buf, int offset) {
        return (buf[offset] & 0xff) << 24 | (buf[offset + 1] & 0xff) << 16
                | (buf[offset + 2] & 0xff) << 8 | (buf[offset + 3] & 0xff);
    }

    /** Closes every stream even when one fails; the first failure is thrown, the others suppressed. */
    static void closeAll(Closeable... closeables) throws IOException {
        IOException first = null;
        for (Closeable c : closeables) {
            try {
                c.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Closes without masking the exception that made us give up. */
    static void closeQuietly(Throwable pending, Closeable... closeables) {
        for (Closeable c : closeables) {
            if (c == null) {
                continue;
            }
            try {
                c.close();
            } catch (IOException | RuntimeException e) {
                pending.addSuppressed(e);
            }
        }
    }

    private static BadInputException brokenGzip(String name, String where, IOException e) {
        String what = e instanceof EOFException ? "data ends inside " : "corrupt gzip data inside ";
        return new BadInputException(String.format("%s: %s%s (%s); the gzip file looks truncated or damaged",
                name, what, where, e.getMessage()), e);
    }
}
