package io.distillery.prep;

/**
 * Deterministic split assignment from a hash of (id, seed): the same example lands in the same
 * split on every run, machine and task retry, independent of partitioning.
 */
public final class Splits {
    private Splits() {
    }

    /**
     * @param testFraction share drawn into "test" (0 when the dataset ships its own test file)
     */
    public static String assign(long id, long seed, double validationFraction, double testFraction) {
        double u = uniform(id, seed);
        if (u < testFraction) {
            return "test";
        }
        return u < testFraction + validationFraction ? "validation" : "train";
    }

    /** SplitMix64 finaliser of id mixed with seed, mapped to [0, 1). */
    static double uniform(long id, long seed) {
        long z = id * 0x9E3779B97F4A7C15L + mix(seed);
        z = mix(z);
        return (z >>> 11) * 0x1.0p-53;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
