package io.distillery.tensor;

import io.distillery.errors.BadInputException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Locale;

/**
 * {@code "topk-float32-int32-le"}: only the {@code k} largest values of a row (logits) with their
 * indices (class indices), for class counts where dense rows cost too much. Config
 * {@code precompute.logits-encoding = "topk:K"}.
 *
 * <p>Byte layout of one row, {@code 8 * k} bytes, little-endian: {@code k} IEEE 754 binary32 values in
 * descending order (equal values: lower index first), then {@code k} signed 32-bit class indices in
 * the same order, each in {@code 0..classes-1} and all distinct. The manifest column keeps the dense
 * shape {@code [classes]}; the teacher-outputs manifest records k as {@code properties.logits_top_k}
 * (and it is {@code len(bytes) / 8}). numpy:
 * <pre>{@code
 * k = len(b) // 8
 * values  = np.frombuffer(b, '<f4', k)            # descending
 * indices = np.frombuffer(b, '<i4', k, 4 * k)
 * dense = np.full(classes, -np.inf, np.float32); dense[indices] = values   # softmax(dense / T): over the stored classes only
 * }</pre>
 *
 * <p>The stored values are exact (float32); the encoding is lossy only in that the other classes are
 * gone. How training uses such a row: see {@code HintonKd} (the KD softmaxes are renormalised over the
 * k stored classes).
 */
public record TopKEncoding(int k) implements ColumnEncoding {
    public static final String MANIFEST_NAME = "topk-float32-int32-le";
    static final String CONFIG_PREFIX = "topk:";

    public TopKEncoding {
        if (k < 1) {
            throw new IllegalArgumentException("top-k encoding needs k >= 1, got " + k);
        }
    }

    @Override
    public String manifestName() {
        return MANIFEST_NAME;
    }

    @Override
    public String configName() {
        return CONFIG_PREFIX + k;
    }

    @Override
    public boolean isLossy() {
        return true;
    }

    @Override
    public boolean isSparse() {
        return true;
    }

    /** {@code 8 * k} bytes, whatever the width (which must be at least k). */
    @Override
    public int byteLength(int width) {
        checkWidth(width);
        return Math.multiplyExact(k, 8);
    }

    /**
     * The k largest of {@code values} (finite, at least k of them), descending, ties to the lower
     * index, as {@code 8 * k} bytes.
     *
     * @throws IllegalArgumentException for fewer than k values or a NaN or infinity
     */
    @Override
    public byte[] encode(float[] values) {
        checkWidth(values.length);
        int bad = TensorEncoding.firstNonFinite(values);
        if (bad >= 0) {
            throw new IllegalArgumentException("top-k encoding needs finite values, got " + values[bad] + " at index " + bad);
        }
        // Sort keys: the high word orders by value, descending (an order-reversed integer image of the
        // float), the low word by index, ascending; one primitive sort of n longs.
        long[] keys = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            int bits = Float.floatToIntBits(values[i]);
            int ascending = bits >= 0 ? bits : bits ^ Integer.MAX_VALUE;
            keys[i] = ((long) ~ascending << 32) | i;
        }
        Arrays.sort(keys);
        ByteBuffer le = ByteBuffer.allocate(8 * k).order(ByteOrder.LITTLE_ENDIAN);
        for (int j = 0; j < k; j++) {
            le.putFloat(values[(int) keys[j]]);
        }
        for (int j = 0; j < k; j++) {
            le.putInt((int) keys[j]);
        }
        return le.array();
    }

    @Override
    public void decodeRow(byte[] bytes, int width, float[] dst, float[] mask, int offset) {
        checkLength(bytes);
        checkWidth(width);
        java.util.Objects.checkFromIndexSize(offset, width, dst.length);
        Arrays.fill(dst, offset, offset + width, 0f);
        if (mask != null) {
            java.util.Objects.checkFromIndexSize(offset, width, mask.length);
            Arrays.fill(mask, offset, offset + width, 0f);
        }
        ByteBuffer le = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        BitSet seen = new BitSet(width);
        for (int j = 0; j < k; j++) {
            int index = le.getInt(4 * (k + j));
            if (index < 0 || index >= width) {
                throw new IllegalArgumentException(MANIFEST_NAME + " (k = " + k + "): class index " + index + " (entry " + j
                        + ") is outside 0.." + (width - 1));
            }
            if (seen.get(index)) {
                throw new IllegalArgumentException(MANIFEST_NAME + " (k = " + k + "): class index " + index + " is stored twice");
            }
            seen.set(index);
            dst[offset + index] = le.getFloat(4 * j);
            if (mask != null) {
                mask[offset + index] = 1f;
            }
        }
    }

    /** The k stored values, descending. */
    public float[] values(byte[] bytes) {
        checkLength(bytes);
        float[] v = new float[k];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        return v;
    }

    /** The k stored indices, in the order of {@link #values}; not range-checked (see {@link #decodeRow}). */
    public int[] indices(byte[] bytes) {
        checkLength(bytes);
        int[] i = new int[k];
        ByteBuffer.wrap(bytes, 4 * k, 4 * k).slice().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(i);
        return i;
    }

    /**
     * Parses {@code topk:K} (any case, spaces allowed around K).
     *
     * @throws BadInputException when K is not an integer >= 1
     */
    public static TopKEncoding fromConfig(String name) {
        String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        String number = key.startsWith(CONFIG_PREFIX) ? key.substring(CONFIG_PREFIX.length()).trim() : "";
        int k;
        try {
            k = Integer.parseInt(number);
        } catch (NumberFormatException e) {
            k = 0;
        }
        if (k < 1) {
            throw new BadInputException("top-k encoding '" + name + "': expected topk:K with an integer K >= 1 (the number of"
                    + " largest logits stored per example), e.g. topk:5");
        }
        return new TopKEncoding(k);
    }

    private void checkWidth(int width) {
        if (width < k) {
            throw new IllegalArgumentException(configName() + ": a row of " + width + " values has no top " + k);
        }
    }

    private void checkLength(byte[] bytes) {
        if (bytes.length != 8 * k) {
            throw new IllegalArgumentException(MANIFEST_NAME + " (k = " + k + "): expected " + 8 * k + " bytes, got " + bytes.length);
        }
    }
}
