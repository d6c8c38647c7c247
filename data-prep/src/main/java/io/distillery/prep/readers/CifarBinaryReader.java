package io.distillery.prep.readers;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Reads the CIFAR "binary version" batches ({@code data_batch_1.bin}, {@code train.bin}, ...): fixed
 * size records of label byte(s) then a 32x32 image stored as three planes (all red, all green, all
 * blue). The planes are interleaved into HWC here so every dataset reaches the tables in one layout.
 * The file length is required up front because the format has no header: it is the only way to
 * count records and to notice a file that is not a CIFAR batch at all.
 */
public final class CifarBinaryReader {
    static final int SIDE = 32;
    static final int PLANE = SIDE * SIDE;
    static final ImageShape SHAPE = new ImageShape(SIDE, SIDE, 3);

    /** Which dataset the file is, and for CIFAR-100 which of its two labels to keep. */
    public enum Variant {
        CIFAR10(1, 0, 10),
        CIFAR100_FINE(2, 1, 100),
        CIFAR100_COARSE(2, 0, 20);

        private final int labelBytes;
        private final int labelOffset;
        private final int classes;

        Variant(int labelBytes, int labelOffset, int classes) {
            this.labelBytes = labelBytes;
            this.labelOffset = labelOffset;
            this.classes = classes;
        }

        /** Bytes in one record: its label byte(s) and 3 planes of 32x32. */
        public int recordBytes() {
            return labelBytes + 3 * PLANE;
        }

        /** Number of classes of the kept label. */
        public int classes() {
            return classes;
        }
    }

    private CifarBinaryReader() {
    }

    /**
     * Opens one batch file of {@code lengthBytes} bytes (plain, not gzipped). The source owns
     * {@code in}: it closes it on {@code close()}, or at once if the length is refused.
     */
    public static ImageSource open(String name, InputStream in, long lengthBytes, Variant variant) {
        int recordBytes = variant.recordBytes();
        if (lengthBytes < 0 || lengthBytes % recordBytes != 0) {
            BadInputException e = new BadInputException(String.format(
                    "%s: length %d bytes is not a multiple of the %s record size %d bytes; is it a %s binary batch?",
                    name, lengthBytes, variant, recordBytes, variant == Variant.CIFAR10 ? "CIFAR-10" : "CIFAR-100"));
            Streams.closeQuietly(e, in);
            throw e;
        }
        return new Source(name, new BufferedInputStream(in, Streams.BUFFER_BYTES), lengthBytes / recordBytes, variant);
    }

    /** Interleaves the three 32x32 planes starting at {@code offset} of {@code chw} into HWC order. */
    static byte[] planesToHwc(byte[] chw, int offset) {
        byte[] hwc = new byte[3 * PLANE];
        for (int p = 0; p < PLANE; p++) {
            hwc[3 * p] = chw[offset + p];
            hwc[3 * p + 1] = chw[offset + PLANE + p];
            hwc[3 * p + 2] = chw[offset + 2 * PLANE + p];
        }
        return hwc;
    }

    private static final class Source extends RecordSource {
        private final InputStream in;
        private final Variant variant;
        private final byte[] record;

        Source(String name, InputStream in, long size, Variant variant) {
            super(name, SHAPE, size);
            this.in = in;
            this.variant = variant;
            this.record = new byte[variant.recordBytes()];
        }

        @Override
        protected LabeledImage read(long index) throws IOException {
            Streams.readFully(name(), in, record, index);
            int label = record[variant.labelOffset] & 0xff;
            if (label >= variant.classes) {
                throw new BadInputException(String.format(
                        "%s: record %d has %s label %d; expected 0..%d. Is the variant right?",
                        name(), index, variant, label, variant.classes - 1));
            }
            return new LabeledImage(label, planesToHwc(record, variant.labelBytes));
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
