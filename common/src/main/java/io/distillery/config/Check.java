package io.distillery.config;

import io.distillery.errors.BadInputException;

import java.util.List;

/** Value checks that name the offending config key in their one-line error. */
final class Check {
    private Check() {
    }

    static void oneOf(String key, String value, List<String> allowed) {
        if (!allowed.contains(value)) {
            throw new BadInputException("config key '" + key + "' is '" + value + "'; expected one of " + allowed);
        }
    }

    static void atLeast(String key, double value, double min) {
        if (value < min) {
            throw new BadInputException("config key '" + key + "' must be >= " + fmt(min) + ", got " + fmt(value));
        }
    }

    static void positive(String key, double value) {
        if (!(value > 0)) {
            throw new BadInputException("config key '" + key + "' must be > 0, got " + fmt(value));
        }
    }

    static void fraction(String key, double value) {
        if (value < 0 || value >= 1) {
            throw new BadInputException("config key '" + key + "' must be in [0, 1), got " + value);
        }
    }

    /** Names become directory names, so keep them to a safe alphabet. */
    static String name(String key, String value) {
        if (!value.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
            throw new BadInputException("config key '" + key + "' is '" + value + "'; expected letters, digits, '.', '_' or '-'");
        }
        return value;
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }
}
