package io.distillery.tensor;

import io.distillery.errors.BadInputException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * How one row of a tensor (logits, or a flattened tap) is stored in a binary column, every element
 * of it (the sparse sibling for logits is {@link TopKEncoding}). The manifest
 * records {@link #manifestName()} per column so that readers without our code (Python, DuckDB) can
 * decode the bytes by hand; the layouts below are the whole contract. All multi-byte numbers are
 * little-endian and values are in row-major order of the tensor's shape.
 */
public enum TensorEncoding implements ColumnEncoding {
    /**
     * {@code "float32-le"}: 4 bytes per value, IEEE 754 binary32. Lossless; NaN and infinities are
     * kept. numpy: {@code np.frombuffer(b, '<f4')}.
     */
    FLOAT32("float32", "float32-le", false) {
        @Override
        public int byteLength(int values) {
            return Math.multiplyExact(checkCount(values), 4);
        }

        @Override
        void write(float[] v, int from, int to, ByteBuffer le) {
            for (int i = from; i < to; i++) {
                le.putFloat(v[i]);
            }
        }

        @Override
        void read(ByteBuffer le, float[] dst, int from, int to) {
            for (int i = from; i < to; i++) {
                dst[i] = le.getFloat();
            }
        }
    },

    /**
     * {@code "float16-le"}: 2 bytes per value, IEEE 754 binary16, rounded to nearest even (see
     * {@link Float16}). Relative error at most 2^-11 for |x| in [2^-14, 65504], absolute error at
     * most 2^-25 below; |x| >= 65520 becomes infinity; NaN stays NaN. numpy:
     * {@code np.frombuffer(b, '<f2')}.
     */
    FLOAT16("float16", "float16-le", true) {
        @Override
        public int byteLength(int values) {
            return Math.multiplyExact(checkCount(values), 2);
        }

        @Override
        void write(float[] v, int from, int to, ByteBuffer le) {
            for (int i = from; i < to; i++) {
                le.putShort(Float16.fromFloat(v[i]));
            }
        }

        @Override
        void read(ByteBuffer le, float[] dst, int from, int to) {
            for (int i = from; i < to; i++) {
                dst[i] = Float16.toFloat(le.getShort());
            }
        }
    },

    /**
     * {@code "int8-rowscale-le"}: a 4-byte float32 {@code scale}, then one signed byte {@code q} per
     * value; the value is {@code q * scale}. {@code scale = max|x| / 127} (0 when all values are 0)
     * and {@code q = round(x / scale)} in [-127, 127], so the absolute error is at most scale / 2
     * (plus the float rounding of the product). Needs finite input. numpy:
     * {@code np.frombuffer(b, '<f4', 1, 0)[0] * np.frombuffer(b, 'i1', offset=4)}.
     */
    INT8("int8", "int8-rowscale-le", true) {
        @Override
        public int byteLength(int values) {
            return Math.addExact(checkCount(values), 4);
        }

        @Override
        void write(float[] v, int from, int to, ByteBuffer le) {
            float maxAbs = 0;
            for (int i = from; i < to; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(v[i]));
            }
            if (!Float.isFinite(maxAbs)) {
                int bad = firstNonFinite(v, from, to);
                throw new IllegalArgumentException("int8 encoding needs finite values, got " + v[bad] + " at index " + bad);
            }
            float scale = maxAbs / 127f;
            le.putFloat(scale);
            for (int i = from; i < to; i++) {
                int q = scale == 0 ? 0 : (int) Math.rint(v[i] / (double) scale);
                le.put((byte) Math.max(-127, Math.min(127, q)));
            }
        }

        @Override
        void read(ByteBuffer le, float[] dst, int from, int to) {
            float scale = le.getFloat();
            for (int i = from; i < to; i++) {
                dst[i] = le.get() * scale;
            }
        }
    };

    private final String configName;
    private final String manifestName;
    private final boolean lossy;

    TensorEncoding(String configName, String manifestName, boolean lossy) {
        this.configName = configName;
        this.manifestName = manifestName;
        this.lossy = lossy;
    }

    /** Bytes that {@code values} values take in this encoding. */
    @Override
    public abstract int byteLength(int values);

    /** Writes {@code v[from, to)} at the buffer's position, little-endian. */
    abstract void write(float[] v, int from, int to, ByteBuffer le);

    /** Reads into {@code dst[from, to)} from the buffer's position, little-endian. */
    abstract void read(ByteBuffer le, float[] dst, int from, int to);

    /** Name in table manifests: {@code float32-le}, {@code float16-le}, {@code int8-rowscale-le}. */
    public String manifestName() {
        return manifestName;
    }

    /** Short name used in pipeline configs: {@code float32}, {@code float16}, {@code int8}. */
    public String configName() {
        return configName;
    }

    /** Whether decoding gives back something other than the exact floats that were encoded. */
    public boolean isLossy() {
        return lossy;
    }

    /** False: every element is stored. */
    @Override
    public boolean isSparse() {
        return false;
    }

    /** {@link #decodeInto}, and a mask of ones when one is asked for: every element is stored. */
    @Override
    public void decodeRow(byte[] bytes, int width, float[] dst, float[] mask, int offset) {
        decodeInto(bytes, dst, offset, width);
        if (mask != null) {
            Objects.checkFromIndexSize(offset, width, mask.length);
            Arrays.fill(mask, offset, offset + width, 1f);
        }
    }

    /** Encodes a whole row into a new array of {@link #byteLength(int)} bytes. */
    public byte[] encode(float[] values) {
        byte[] out = new byte[byteLength(values.length)];
        encode(values, 0, values.length, ByteBuffer.wrap(out));
        return out;
    }

    /**
     * Encodes {@code values[offset, offset + length)} at {@code out}'s position and advances it by
     * {@link #byteLength(int)}; the bytes are little-endian whatever {@code out}'s byte order is.
     */
    public void encode(float[] values, int offset, int length, ByteBuffer out) {
        Objects.checkFromIndexSize(offset, length, values.length);
        if (out.remaining() < byteLength(length)) {
            throw new IllegalArgumentException(manifestName + ": " + length + " values need " + byteLength(length)
                    + " bytes, buffer has " + out.remaining());
        }
        ByteBuffer le = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        write(values, offset, offset + length, le);
        out.position(le.position());
    }

    /** Decodes a row of {@code expectedLength} values. */
    public float[] decode(byte[] bytes, int expectedLength) {
        float[] out = new float[expectedLength];
        decodeInto(bytes, out, 0, expectedLength);
        return out;
    }

    /**
     * Decodes a row of {@code expectedLength} values into {@code dst} from {@code dstOffset}.
     *
     * @throws IllegalArgumentException if {@code bytes} is not exactly {@code byteLength(expectedLength)} long
     */
    public void decodeInto(byte[] bytes, float[] dst, int dstOffset, int expectedLength) {
        int expectedBytes = byteLength(expectedLength);
        if (bytes.length != expectedBytes) {
            throw new IllegalArgumentException(manifestName + ": expected " + expectedBytes + " bytes for "
                    + expectedLength + " values, got " + bytes.length + " bytes");
        }
        Objects.checkFromIndexSize(dstOffset, expectedLength, dst.length);
        read(ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN), dst, dstOffset, dstOffset + expectedLength);
    }

    /**
     * Parses a config value: {@code float32}, {@code float16}, {@code int8} or a manifest name, in
     * any case.
     *
     * @throws BadInputException naming the valid values
     */
    public static TensorEncoding fromConfig(String name) {
        String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        for (TensorEncoding e : values()) {
            if (e.configName.equals(key) || e.manifestName.equals(key)) {
                return e;
            }
        }
        throw new BadInputException("unknown tensor encoding '" + name + "': expected one of float32, float16, int8"
                + " (or the manifest names float32-le, float16-le, int8-rowscale-le)");
    }

    /** Parses the encoding recorded in a manifest; accepts the same names as {@link #fromConfig}. */
    public static TensorEncoding fromManifestName(String name) {
        return fromConfig(name);
    }

    /** Index of the first NaN or infinity in {@code values}, or -1 when all are finite. */
    public static int firstNonFinite(float[] values) {
        return firstNonFinite(values, 0, values.length);
    }

    /** Index of the first NaN or infinity in {@code values[from, to)}, or -1 when all are finite. */
    public static int firstNonFinite(float[] values, int from, int to) {
        Objects.checkFromToIndex(from, to, values.length);
        for (int i = from; i < to; i++) {
            if (!Float.isFinite(values[i])) {
                return i;
            }
        }
        return -1;
    }

    private static int checkCount(int values) {
        if (values < 0) {
            throw new IllegalArgumentException("negative value count " + values);
        }
        return values;
    }
}
