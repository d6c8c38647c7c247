package io.distillery.tensor;

/**
 * IEEE 754 binary16 ("half") conversion. Java 17 has no {@code Float.floatToFloat16}, and teacher
 * taps are stored as float16 by default, so this runs over millions of values per partition: plain
 * integer arithmetic, no allocation, three branches.
 *
 * <p>Binary16 layout: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits. Normal values span
 * [2^-14, 65504]; subnormals are multiples of 2^-24.
 */
public final class Float16 {
    /** Largest finite half, 65504. */
    public static final float MAX_VALUE = 65504f;
    /** Smallest positive normal half, 2^-14. */
    public static final float MIN_NORMAL = 0x1p-14f;
    /** Smallest positive subnormal half, 2^-24. */
    public static final float MIN_VALUE = 0x1p-24f;

    /** Float bits of 65520 = MAX_VALUE + half an ulp: from here on, rounding gives infinity. */
    private static final int OVERFLOW_BITS = 0x477f_f000;
    /** Float bits of 2^-14, the smallest normal half. */
    private static final int MIN_NORMAL_BITS = 0x3880_0000;
    /** (127 - 15) << 23: moves a float exponent to the half bias. */
    private static final int REBIAS = 0x3800_0000;

    private Float16() {}

    /**
     * Rounds to the nearest half, ties to even. Overflow gives a signed infinity, NaN gives a quiet
     * NaN with the sign and the top payload bits kept, and the sign of zero is kept.
     */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fff_ffff;
        if (abs >= OVERFLOW_BITS) {
            // Infinity, or NaN (forced quiet so that a payload of zero bits cannot turn into infinity).
            int nan = abs > 0x7f80_0000 ? 0x0200 | ((abs >>> 13) & 0x03ff) : 0;
            return (short) (sign | 0x7c00 | nan);
        }
        if (abs >= MIN_NORMAL_BITS) {
            // Rebias, then round the 13 dropped bits to nearest even; a carry out of the fraction
            // correctly bumps the exponent (65504 is the largest result, overflow was handled above).
            int h = abs - REBIAS;
            h += 0x0fff + ((h >>> 13) & 1);
            return (short) (sign | (h >>> 13));
        }
        // Subnormal half (or zero). Adding 0.5f, whose ulp is 2^-24, lets the FPU round |f| to a
        // multiple of 2^-24 with ties to even; the low bits of the sum are that multiple (0..1024,
        // where 1024 is exactly the bit pattern of the smallest normal half).
        float sum = Float.intBitsToFloat(abs) + 0.5f;
        return (short) (sign | (Float.floatToRawIntBits(sum) - 0x3f00_0000));
    }

    /** Exact widening of a half to a float (every half is a float); NaN payloads are kept. */
    public static float toFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = h & 0x7c00;
        int fraction = h & 0x03ff;
        if (exp == 0x7c00) {
            return Float.intBitsToFloat(sign | 0x7f80_0000 | (fraction << 13));
        }
        if (exp != 0) {
            return Float.intBitsToFloat(sign | ((h & 0x7fff) << 13) + REBIAS);
        }
        // Zero or subnormal: fraction * 2^-24, exact in float.
        return Float.intBitsToFloat(sign | Float.floatToRawIntBits(fraction * MIN_VALUE));
    }
}
