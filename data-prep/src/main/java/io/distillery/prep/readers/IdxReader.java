package io.distillery.prep.readers;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * Reads the idx format of MNIST and Fashion-MNIST: an images file (magic 0x00000803, dims n, rows,
 * cols, then n*rows*cols unsigned bytes) beside a labels file (magic 0x00000801, dim n, then n bytes).
 * Header problems fail in {@link #open}, so a bad pair is refused before any work is scheduled;
 * truncation can only be seen while streaming and fails in {@code next()}. Bytes after the last
 * record are ignored.
 */
public final class IdxReader {
    static final int IMAGES_MAGIC = 0x00000803;
    static final int LABELS_MAGIC = 0x00000801;

    private IdxReader() {
    }

    /**
     * Opens an images/labels pair, each plain or gzipped (detected from the content). The source owns
     * both streams: it closes them on {@code close()}, or at once if opening fails.
     */
    public static ImageSource open(String imagesName, InputStream images, String labelsName, InputStream labels) {
        InputStream img = images;
        InputStream lab = labels;
        try {
            img = Streams.maybeGunzip(imagesName, images);
            lab = Streams.maybeGunzip(labelsName, labels);
            int[] imgDims = dimensions(imagesName, img, IMAGES_MAGIC, 3, "an idx images file");
            int[] labDims = dimensions(labelsName, lab, LABELS_MAGIC, 1, "an idx labels file");
            int count = atLeast(imagesName, imgDims[0], "image count", 0);
            int rows = atLeast(imagesName, imgDims[1], "rows", 1);
            int cols = atLeast(imagesName, imgDims[2], "cols", 1);
            int labelCount = atLeast(labelsName, labDims[0], "label count", 0);
            if (count != labelCount) {
                throw new BadInputException(String.format(
                        "%s holds %d images but %s holds %d labels; expected the same count",
                        imagesName, count, labelsName, labelCount));
            }
            if ((long) rows * cols > Integer.MAX_VALUE) {
                throw new BadInputException(imagesName + ": image of " + rows + "x" + cols + " pixels is too large");
            }
            return new Source(imagesName, img, labelsName, lab, new ImageShape(rows, cols, 1), count);
        } catch (IOException e) {
            UncheckedIOException failure = new UncheckedIOException(
                    "cannot read " + imagesName + " / " + labelsName + ": " + e.getMessage(), e);
            Streams.closeQuietly(failure, img, lab);
            throw failure;
        } catch (RuntimeException e) {
            Streams.closeQuietly(e, img, lab);
            throw e;
        }
    }

    /** Checks the magic number, then returns the big-endian dimensions that follow it. */
    private static int[] dimensions(String name, InputStream in, int magic, int count, String what) throws IOException {
        // Magic first, on its own: a swapped, short file should say "wrong file", not "truncated".
        byte[] magicBytes = new byte[4];
        Streams.readFully(name, in, magicBytes, "the idx magic number");
        int got = Streams.readIntBigEndian(magicBytes, 0);
        if (got != magic) {
            throw new BadInputException(String.format(
                    "%s: not %s: expected magic number 0x%08x, got 0x%08x", name, what, magic, got));
        }
        byte[] bytes = new byte[4 * count];
        Streams.readFully(name, in, bytes, "the idx dimensions");
        int[] dims = new int[count];
        for (int i = 0; i < count; i++) {
            dims[i] = Streams.readIntBigEndian(bytes, 4 * i);
        }
        return dims;
    }

    private static int atLeast(String name, int value, String what, int min) {
        if (value < min) {
            throw new BadInputException(String.format(
                    "%s: idx header gives %s %d; expected at least %d", name, what, Integer.toUnsignedLong(value), min));
        }
        return value;
    }

    private static final class Source extends RecordSource {
        private final String imagesName;
        private final String labelsName;
        private final InputStream images;
        private final InputStream labels;
        private final byte[] label = new byte[1];

        Source(String imagesName, InputStream images, String labelsName, InputStream labels, ImageShape shape, long size) {
            super(imagesName + " + " + labelsName, shape, size);
            this.imagesName = imagesName;
            this.labelsName = labelsName;
            this.images = images;
            this.labels = labels;
        }

        @Override
        protected LabeledImage read(long index) throws IOException {
            byte[] pixels = new byte[shape().pixelCount()];
            Streams.readFully(imagesName, images, pixels, index);
            Streams.readFully(labelsName, labels, label, index);
            return new LabeledImage(label[0] & 0xff, pixels);
        }

        @Override
        public void close() throws IOException {
            Streams.closeAll(images, labels);
        }
    }
}
