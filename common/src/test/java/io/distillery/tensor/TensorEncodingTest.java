package io.distillery.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.errors.BadInputException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TensorEncodingTest {
    private static float[] randomRow(SplittableRandom random, int n, double magnitude) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * magnitude);
        }
        return v;
    }

    @Test
    void float32IsExactIncludingNonFiniteValues() {
        float[] v = {0f, -0f, 1.5f, -3.25e-30f, Float.MAX_VALUE, Float.MIN_VALUE, Float.NaN, Float.NEGATIVE_INFINITY};
        byte[] bytes = TensorEncoding.FLOAT32.encode(v);
        assertEquals(32, bytes.length);
        float[] back = TensorEncoding.FLOAT32.decode(bytes, v.length);
        for (int i = 0; i < v.length; i++) {
            assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(back[i]), "index " + i);
        }
        assertFalse(TensorEncoding.FLOAT32.isLossy());
    }

    @Test
    void float16RoundTripWithinItsErrorBound() {
        SplittableRandom random = new SplittableRandom(7);
        for (int row = 0; row < 200; row++) {
            float[] v = randomRow(random, 1 + random.nextInt(300), Math.pow(10, random.nextInt(-6, 5)));
            float[] back = TensorEncoding.FLOAT16.decode(TensorEncoding.FLOAT16.encode(v), v.length);
            for (int i = 0; i < v.length; i++) {
                float x = Math.abs(v[i]);
                double bound = x >= Float16.MIN_NORMAL ? 0x1p-11 * x : 0x1p-25;
                assertTrue(Math.abs(back[i] - v[i]) <= bound, v[i] + " -> " + back[i]);
            }
        }
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, 70000f, -0f};
        float[] back = TensorEncoding.FLOAT16.decode(TensorEncoding.FLOAT16.encode(special), 4);
        assertTrue(Float.isNaN(back[0]));
        assertEquals(Float.POSITIVE_INFINITY, back[1]);
        assertEquals(Float.POSITIVE_INFINITY, back[2], "beyond 65504 overflows");
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(back[3]));
        assertTrue(TensorEncoding.FLOAT16.isLossy());
    }

    @Test
    void float16BytesAreLittleEndianHalves() {
        // 1.0 = 0x3c00, -2.0 = 0xc000: what np.frombuffer(b, '<f2') expects.
        assertArrayEquals(new byte[] {0x00, 0x3c, 0x00, (byte) 0xc0}, TensorEncoding.FLOAT16.encode(new float[] {1f, -2f}));
        assertArrayEquals(new byte[] {0, 0, (byte) 0x80, 0x3f}, TensorEncoding.FLOAT32.encode(new float[] {1f}));
    }

    @Test
    void int8RoundTripWithinHalfAScale() {
        SplittableRandom random = new SplittableRandom(11);
        for (int row = 0; row < 200; row++) {
            float[] v = randomRow(random, 1 + random.nextInt(300), Math.pow(10, random.nextInt(-6, 5)));
            byte[] bytes = TensorEncoding.INT8.encode(v);
            assertEquals(4 + v.length, bytes.length);
            float scale = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getFloat(0);
            float maxAbs = 0;
            for (float x : v) {
                maxAbs = Math.max(maxAbs, Math.abs(x));
            }
            assertEquals(maxAbs / 127f, scale);
            float[] back = TensorEncoding.INT8.decode(bytes, v.length);
            for (int i = 0; i < v.length; i++) {
                double err = Math.abs((double) back[i] - v[i]);
                assertTrue(err <= scale / 2.0 + Math.ulp(maxAbs), v[i] + " -> " + back[i] + " with scale " + scale);
            }
        }
    }

    @Test
    void int8Layout() {
        byte[] bytes = TensorEncoding.INT8.encode(new float[] {-127f, 0f, 1.4f, 2.5f, 63.6f});
        assertEquals(1f, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getFloat(0));
        assertArrayEquals(new byte[] {-127, 0, 1, 2, 64}, java.util.Arrays.copyOfRange(bytes, 4, 9), "2.5 ties to even");
        byte[] zeros = TensorEncoding.INT8.encode(new float[3]);
        assertArrayEquals(new byte[7], zeros, "scale 0 and zero bytes");
        assertArrayEquals(new float[3], TensorEncoding.INT8.decode(zeros, 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TensorEncoding.INT8.encode(new float[] {1f, Float.NaN}));
        assertTrue(e.getMessage().contains("index 1"), e.getMessage());
    }

    @Test
    void emptyRows() {
        for (TensorEncoding enc : TensorEncoding.values()) {
            assertArrayEquals(new float[0], enc.decode(enc.encode(new float[0]), 0), enc.name());
        }
    }

    @Test
    void wrongByteLengthNamesExpectedAndActual() {
        byte[] bytes = TensorEncoding.FLOAT16.encode(new float[10]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TensorEncoding.FLOAT16.decode(bytes, 12));
        assertEquals("float16-le: expected 24 bytes for 12 values, got 20 bytes", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TensorEncoding.INT8.decode(new byte[13], 10));
        assertThrows(IllegalArgumentException.class, () -> TensorEncoding.FLOAT32.decode(new byte[3], 1));
    }

    @Test
    void byteBufferEncodeWritesAtPositionLittleEndianWhateverTheOrder() {
        float[] v = {1f, 2f, 3f, 4f};
        for (TensorEncoding enc : TensorEncoding.values()) {
            ByteBuffer out = ByteBuffer.allocate(100).order(ByteOrder.BIG_ENDIAN);
            out.position(5);
            enc.encode(v, 1, 2, out);
            assertEquals(5 + enc.byteLength(2), out.position(), enc.name());
            assertEquals(ByteOrder.BIG_ENDIAN, out.order());
            byte[] written = java.util.Arrays.copyOfRange(out.array(), 5, out.position());
            assertArrayEquals(enc.encode(new float[] {2f, 3f}), written, enc.name());

            float[] dst = new float[5];
            enc.decodeInto(written, dst, 3, 2);
            float[] decoded = enc.decode(written, 2);
            assertArrayEquals(new float[] {0, 0, 0, decoded[0], decoded[1]}, dst, enc.name());

            ByteBuffer small = ByteBuffer.allocate(enc.byteLength(2) - 1);
            assertThrows(IllegalArgumentException.class, () -> enc.encode(v, 0, 2, small));
            assertEquals(0, small.position(), "nothing written");
        }
    }

    @Test
    void namesParseCaseInsensitivelyAndErrorsListValidValues() {
        assertEquals("float32-le", TensorEncoding.FLOAT32.manifestName());
        assertEquals("float16-le", TensorEncoding.FLOAT16.manifestName());
        assertEquals("int8-rowscale-le", TensorEncoding.INT8.manifestName());
        for (TensorEncoding enc : TensorEncoding.values()) {
            assertEquals(enc, TensorEncoding.fromManifestName(enc.manifestName()));
            assertEquals(enc, TensorEncoding.fromConfig(enc.configName().toUpperCase()));
            assertEquals(enc, TensorEncoding.fromConfig(" " + enc.manifestName() + " "));
        }
        assertEquals(TensorEncoding.FLOAT16, TensorEncoding.fromConfig("Float16"));
        BadInputException e = assertThrows(BadInputException.class, () -> TensorEncoding.fromConfig("bf16"));
        assertTrue(e.getMessage().contains("'bf16'") && e.getMessage().contains("float32, float16, int8"), e.getMessage());
        assertThrows(BadInputException.class, () -> TensorEncoding.fromManifestName(null));
    }

    @Test
    void firstNonFinite() {
        assertEquals(-1, TensorEncoding.firstNonFinite(new float[] {0f, Float.MAX_VALUE, -Float.MIN_VALUE}));
        assertEquals(-1, TensorEncoding.firstNonFinite(new float[0]));
        assertEquals(2, TensorEncoding.firstNonFinite(new float[] {0f, 1f, Float.NaN, Float.POSITIVE_INFINITY}));
        assertEquals(0, TensorEncoding.firstNonFinite(new float[] {Float.NEGATIVE_INFINITY}));
    }
}
