package io.distillery.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Float16Test {
    /** Largest finite half bit pattern (65504). */
    private static final int MAX_FINITE = 0x7bff;

    // ---- slow, obviously correct reference -------------------------------------------------

    /** Exact value of a non-negative finite half from its definition, as a BigDecimal. */
    private static BigDecimal exactValue(int h) {
        int e = h >>> 10;
        int m = h & 0x3ff;
        BigDecimal significand = BigDecimal.valueOf(e == 0 ? m : 1024 + m);
        int power = (e == 0 ? 1 : e) - 25; // value = significand * 2^power
        BigDecimal two = BigDecimal.valueOf(2);
        return power >= 0 ? significand.multiply(two.pow(power)) : significand.divide(two.pow(-power));
    }

    private static final BigDecimal[] VALUES = new BigDecimal[MAX_FINITE + 2];

    static {
        for (int h = 0; h <= MAX_FINITE; h++) {
            VALUES[h] = exactValue(h);
        }
        VALUES[MAX_FINITE + 1] = BigDecimal.valueOf(65536); // where the next value would be: 2^16
    }

    /** Nearest half by binary search over all finite halves, ties to even; 65520 and up is infinity. */
    private static short reference(float f) {
        if (Float.isNaN(f)) {
            throw new IllegalArgumentException("no reference for NaN");
        }
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x8000 : 0;
        BigDecimal x = new BigDecimal(Math.abs((double) f)); // exact
        if (Float.isInfinite(f) || x.compareTo(BigDecimal.valueOf(65520)) >= 0) {
            return (short) (sign | 0x7c00);
        }
        int lo = 0, hi = MAX_FINITE; // largest h with VALUES[h] <= x
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (VALUES[mid].compareTo(x) <= 0) lo = mid; else hi = mid - 1;
        }
        int c = x.subtract(VALUES[lo]).compareTo(VALUES[lo + 1].subtract(x));
        int h = c < 0 ? lo : c > 0 ? lo + 1 : (lo % 2 == 0 ? lo : lo + 1);
        return (short) (sign | h);
    }

    private static String hex(int bits) {
        return String.format("0x%04x", bits & 0xffff);
    }

    // ---- tests -----------------------------------------------------------------------------

    @Test
    void everyHalfSurvivesARoundTripThroughFloat() {
        for (int h = 0; h < 0x10000; h++) {
            float f = Float16.toFloat((short) h);
            boolean nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
            if (nan) {
                assertTrue(Float.isNaN(f), hex(h));
                assertTrue(Float.isNaN(Float16.toFloat(Float16.fromFloat(f))), hex(h));
            } else {
                assertEquals(h, Float16.fromFloat(f) & 0xffff, hex(h));
            }
        }
    }

    @Test
    void toFloatMatchesTheDefinitionForEveryFiniteHalf() {
        for (int h = 0; h <= MAX_FINITE; h++) {
            assertEquals(VALUES[h], new BigDecimal(Float16.toFloat((short) h)), hex(h));
            assertEquals(VALUES[h].negate(), new BigDecimal(Float16.toFloat((short) (h | 0x8000))), hex(h));
        }
        assertEquals(Float.POSITIVE_INFINITY, Float16.toFloat((short) 0x7c00));
        assertEquals(Float.NEGATIVE_INFINITY, Float16.toFloat((short) 0xfc00));
    }

    @Test
    void edgeCases() {
        assertEquals(0x0000, Float16.fromFloat(0f) & 0xffff);
        assertEquals(0x8000, Float16.fromFloat(-0f) & 0xffff);
        assertEquals(0x3c00, Float16.fromFloat(1f) & 0xffff);
        assertEquals(0x7bff, Float16.fromFloat(65504f) & 0xffff);
        assertEquals(0x7bff, Float16.fromFloat(Math.nextDown(65520f)) & 0xffff);
        assertEquals(0x7c00, Float16.fromFloat(65520f) & 0xffff, "65520 ties to even: infinity");
        assertEquals(0xfc00, Float16.fromFloat(-65520f) & 0xffff);
        assertEquals(0x7c00, Float16.fromFloat(Float.MAX_VALUE) & 0xffff);
        assertEquals(0x7c00, Float16.fromFloat(Float.POSITIVE_INFINITY) & 0xffff);
        assertEquals(0xfc00, Float16.fromFloat(Float.NEGATIVE_INFINITY) & 0xffff);
        assertEquals(0x0001, Float16.fromFloat(0x1p-24f) & 0xffff, "smallest subnormal");
        assertEquals(0x0000, Float16.fromFloat(0x1p-25f) & 0xffff, "half of it ties to even zero");
        assertEquals(0x0001, Float16.fromFloat(Math.nextUp(0x1p-25f)) & 0xffff);
        assertEquals(0x0002, Float16.fromFloat(0x1.8p-24f) & 0xffff, "1.5 * 2^-24 ties to even 2");
        assertEquals(0x03ff, Float16.fromFloat(0x3ffp-24f) & 0xffff, "largest subnormal");
        assertEquals(0x0400, Float16.fromFloat(0x3ff.8p-24f) & 0xffff, "rounds up into the normals");
        assertEquals(0x3c00, Float16.fromFloat(1 + 0x1p-11f) & 0xffff, "tie, 1 is even");
        assertEquals(0x3c02, Float16.fromFloat(1 + 0x3p-11f) & 0xffff, "tie, 1+2^-9 is even");
        assertEquals(0x3c01, Float16.fromFloat(Math.nextUp(1 + 0x1p-11f)) & 0xffff);
        assertEquals(0x4000, Float16.fromFloat(Math.nextDown(2f)) & 0xffff, "carry into the exponent");
        assertEquals(0x0000, Float16.fromFloat(Float.MIN_VALUE) & 0xffff);
        assertEquals(0x8000, Float16.fromFloat(-Float.MIN_VALUE) & 0xffff);

        short nan = Float16.fromFloat(Float.NaN);
        assertTrue(Float.isNaN(Float16.toFloat(nan)));
        assertEquals(0x0200, nan & 0x0200, "quiet");
        short signalling = Float16.fromFloat(Float.intBitsToFloat(0xff80_0001)); // payload only in low bits
        assertTrue(Float.isNaN(Float16.toFloat(signalling)), "must not become infinity");
        assertEquals(0x8000, signalling & 0x8000, "sign kept");
    }

    @Test
    void fromFloatMatchesTheReferenceOnRandomFloats() {
        SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < 300_000; i++) {
            float f;
            switch (i % 3) {
                case 0 -> f = Float.intBitsToFloat(random.nextInt()); // anything, mostly out of half range
                case 1 -> f = (float) (random.nextDouble(-1, 1) * Math.scalb(1.0, random.nextInt(-27, 17)));
                default -> { // anywhere between two neighbouring halves
                    int h = random.nextInt(0, MAX_FINITE);
                    float lo = Float16.toFloat((short) h), hi = Float16.toFloat((short) (h + 1));
                    f = lo + (float) random.nextDouble() * (hi - lo);
                    f = random.nextBoolean() ? f : -f;
                }
            }
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(Float16.toFloat(Float16.fromFloat(f))));
            } else {
                assertEquals(hex(reference(f)), hex(Float16.fromFloat(f)), "for " + f + " (" + Float.toHexString(f) + ")");
            }
        }
    }

    @Test
    void midpointsBetweenAllNeighbouringHalvesRoundToEven() {
        for (int h = 0; h < MAX_FINITE; h++) {
            float lo = Float16.toFloat((short) h), hi = Float16.toFloat((short) (h + 1));
            float mid = (lo + hi) / 2; // exact: halves have 11 significant bits
            int even = h % 2 == 0 ? h : h + 1;
            assertEquals(hex(even), hex(Float16.fromFloat(mid)), "midpoint of " + hex(h) + " and " + hex(h + 1));
            assertEquals(hex(h), hex(Float16.fromFloat(Math.nextDown(mid))));
            assertEquals(hex(h + 1), hex(Float16.fromFloat(Math.nextUp(mid))));
        }
    }

    /**
     * Every positive float in the normal half range [2^-14, 65504], exhaustively (about 250 million):
     * relative error at most 2^-11 (half an ulp of an 11-bit significand).
     */
    @Test
    void relativeErrorBoundOverTheWholeNormalRange() {
        int from = Float.floatToRawIntBits(Float16.MIN_NORMAL), to = Float.floatToRawIntBits(Float16.MAX_VALUE);
        double maxRel = 0;
        float worst = 0;
        for (int bits = from; bits <= to; bits++) {
            float x = Float.intBitsToFloat(bits);
            double rel = Math.abs((double) Float16.toFloat(Float16.fromFloat(x)) - x) / x;
            if (rel > maxRel) {
                maxRel = rel;
                worst = x;
            }
        }
        System.out.printf("float16 max relative error on [2^-14, 65504]: %.6e at %s (bound 2^-11 = %.6e)%n",
                maxRel, Float.toHexString(worst), 0x1p-11);
        assertTrue(maxRel <= 0x1p-11, "max relative error " + maxRel);
        assertTrue(maxRel > 0x1p-12, "suspiciously exact: " + maxRel);
    }

    /** Every positive float below 2^-14 from 2^-26 up (about 100 million): absolute error <= 2^-25. */
    @Test
    void absoluteErrorBoundInTheSubnormalRange() {
        int from = Float.floatToRawIntBits(0x1p-26f), to = Float.floatToRawIntBits(Float16.MIN_NORMAL);
        double maxAbs = 0;
        for (int bits = from; bits < to; bits++) {
            float x = Float.intBitsToFloat(bits);
            maxAbs = Math.max(maxAbs, Math.abs((double) Float16.toFloat(Float16.fromFloat(x)) - x));
        }
        System.out.printf("float16 max absolute error below 2^-14: %.6e (bound 2^-25 = %.6e)%n", maxAbs, 0x1p-25);
        assertTrue(maxAbs <= 0x1p-25, "max absolute error " + maxAbs);
        // Below 2^-26 everything rounds to zero, so the error is |x| itself.
        assertEquals(0, Float16.fromFloat(Math.nextDown(0x1p-26f)));
    }
}
