package io.distillery.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.errors.BadInputException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** topk-float32-int32-le: byte layout, selection order, dense decoding with a mask, and refusals. */
class TopKEncodingTest {

    /**
     * The README's example, byte by byte: logits (0.5, 2, -1, 2, 3.25), k = 3 keeps 3.25 (class 4),
     * then the tie 2, 2 in class order (1, 3); three little-endian float32, then three int32.
     */
    @Test
    void byteLayoutIsValuesDescendingThenIndicesLittleEndian() {
        byte[] b = new TopKEncoding(3).encode(new float[] {0.5f, 2f, -1f, 2f, 3.25f});
        assertArrayEquals(new byte[] {
                0, 0, 0x50, 0x40, /* 3.25f = 0x40500000 */ 0, 0, 0, 0x40, /* 2f */ 0, 0, 0, 0x40, /* 2f */
                4, 0, 0, 0, /**/ 1, 0, 0, 0, /**/ 3, 0, 0, 0}, b);
        assertEquals(24, new TopKEncoding(3).byteLength(5));
    }

    /**
     * Decoding exactly as README documents it, by hand (no TopKEncoding): k = len / 8, k float32 then
     * k int32, scattered into a row of -inf, whose softmax is over the stored classes only.
     */
    @Test
    void readmeDecodeRecoversTheTopKClasses() {
        float[] logits = {-3f, -1f, -2f, -1.5f, -7f, 0.25f};
        byte[] b = new TopKEncoding(3).encode(logits);
        int k = b.length / 8;
        ByteBuffer le = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        float[] values = new float[k];
        int[] indices = new int[k];
        for (int j = 0; j < k; j++) {
            values[j] = le.getFloat();
        }
        for (int j = 0; j < k; j++) {
            indices[j] = le.getInt();
        }
        float[] dense = new float[logits.length];
        Arrays.fill(dense, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < k; j++) {
            dense[indices[j]] = values[j];
        }
        assertArrayEquals(new float[] {0.25f, -1f, -1.5f}, values, 0f, "negative and positive logits, descending");
        assertArrayEquals(new int[] {5, 1, 3}, indices);
        assertArrayEquals(new float[] {Float.NEGATIVE_INFINITY, -1f, Float.NEGATIVE_INFINITY, -1.5f, Float.NEGATIVE_INFINITY, 0.25f},
                dense, 0f);
        assertArrayEquals(values, new TopKEncoding(3).values(b), 0f);
        assertArrayEquals(indices, new TopKEncoding(3).indices(b));
    }

    /** Random rows: the stored classes are the k largest, exact, and decodeRow gives them densely with a 0/1 mask. */
    @Test
    void roundTripKeepsExactlyTheKLargestAsDenseRowAndMask() {
        Random random = new Random(15);
        for (int k : new int[] {1, 3, 5, 100}) {
            TopKEncoding enc = new TopKEncoding(k);
            for (int trial = 0; trial < 20; trial++) {
                float[] row = new float[100];
                for (int i = 0; i < row.length; i++) {
                    row[i] = (float) (random.nextGaussian() * 5);
                }
                row[7] = row[8]; // a tie somewhere
                int[] expected = IntStream.range(0, row.length).boxed()
                        .sorted(Comparator.<Integer>comparingDouble(i -> -row[i]).thenComparingInt(i -> i))
                        .limit(k).mapToInt(Integer::intValue).toArray();
                byte[] b = enc.encode(row);
                assertEquals(8 * k, b.length);
                assertArrayEquals(expected, enc.indices(b), "k = " + k);

                // Decoded into the middle of a batch buffer, over stale values.
                float[] dst = new float[300];
                float[] mask = new float[300];
                Arrays.fill(dst, 9f);
                Arrays.fill(mask, 9f);
                enc.decodeRow(b, 100, dst, mask, 100);
                for (int i = 0; i < 100; i++) {
                    int cls = i;
                    boolean stored = IntStream.of(expected).anyMatch(c -> c == cls);
                    assertEquals(stored ? row[i] : 0f, dst[100 + i], 0f, "value of class " + i);
                    assertEquals(stored ? 1f : 0f, mask[100 + i], 0f, "mask of class " + i);
                }
                assertEquals(9f, dst[99]);
                assertEquals(9f, mask[200], "nothing written past the row");
                assertEquals(k, (int) IntStream.range(100, 200).filter(i -> mask[i] == 1f).count());
            }
        }
    }

    @Test
    void decodingRefusesBadIndicesAndLengths() {
        TopKEncoding enc = new TopKEncoding(2);
        byte[] outside = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f).putFloat(0f).putInt(3).putInt(10).array();
        var e = assertThrows(IllegalArgumentException.class, () -> enc.decodeRow(outside, 10, new float[10], new float[10], 0));
        assertTrue(e.getMessage().contains("class index 10") && e.getMessage().contains("outside 0..9"), e.getMessage());
        byte[] negative = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f).putFloat(0f).putInt(-1).putInt(2).array();
        assertThrows(IllegalArgumentException.class, () -> enc.decodeRow(negative, 10, new float[10], null, 0));
        byte[] twice = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f).putFloat(0f).putInt(4).putInt(4).array();
        e = assertThrows(IllegalArgumentException.class, () -> enc.decodeRow(twice, 10, new float[10], null, 0));
        assertTrue(e.getMessage().contains("class index 4 is stored twice"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> enc.decodeRow(new byte[24], 10, new float[10], null, 0));
        assertTrue(e.getMessage().contains("expected 16 bytes, got 24"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> enc.decodeRow(new byte[16], 1, new float[1], null, 0), "k > width");
    }

    @Test
    void encodingRefusesNonFiniteValuesAndTooFewClasses() {
        var e = assertThrows(IllegalArgumentException.class, () -> new TopKEncoding(1).encode(new float[] {0f, Float.NaN}));
        assertTrue(e.getMessage().contains("NaN") && e.getMessage().contains("index 1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TopKEncoding(1).encode(new float[] {Float.POSITIVE_INFINITY}));
        e = assertThrows(IllegalArgumentException.class, () -> new TopKEncoding(4).encode(new float[3]));
        assertTrue(e.getMessage().contains("topk:4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TopKEncoding(0));
    }

    @Test
    void namesAndConfigParsing() {
        TopKEncoding enc = new TopKEncoding(5);
        assertEquals("topk-float32-int32-le", enc.manifestName());
        assertEquals("topk:5", enc.configName());
        assertTrue(enc.isSparse() && enc.isLossy());
        assertFalse(TensorEncoding.FLOAT32.isSparse());
        assertEquals(enc, ColumnEncoding.fromConfig("topk:5"));
        assertEquals(enc, ColumnEncoding.fromConfig(" TopK: 5 "));
        assertSame(TensorEncoding.FLOAT16, ColumnEncoding.fromConfig("float16"));
        assertSame(TensorEncoding.INT8, ColumnEncoding.fromConfig("int8-rowscale-le"));
        for (String bad : new String[] {"topk", "topk:", "topk:0", "topk:-2", "topk:x", "topk:1.5"}) {
            var e = assertThrows(BadInputException.class, () -> ColumnEncoding.fromConfig(bad), bad);
            assertTrue(e.getMessage().contains("topk:K with an integer K >= 1"), e.getMessage());
        }
        var e = assertThrows(BadInputException.class, () -> ColumnEncoding.fromConfig("bf16"));
        assertTrue(e.getMessage().contains("float32, float16, int8, topk:K"), e.getMessage());
        assertThrows(BadInputException.class, () -> TensorEncoding.fromConfig("topk:3"), "taps stay dense");
    }

    /** A dense encoding through the same interface: the whole row, and a mask of ones when asked. */
    @Test
    void denseEncodingsDecodeRowWithAFullMask() {
        float[] dst = new float[5];
        float[] mask = new float[5];
        TensorEncoding.FLOAT32.decodeRow(TensorEncoding.FLOAT32.encode(new float[] {1f, -2f, 3f}), 3, dst, mask, 1);
        assertArrayEquals(new float[] {0f, 1f, -2f, 3f, 0f}, dst, 0f);
        assertArrayEquals(new float[] {0f, 1f, 1f, 1f, 0f}, mask, 0f);
    }
}
