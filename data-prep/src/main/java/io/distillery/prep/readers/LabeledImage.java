package io.distillery.prep.readers;

import java.util.Arrays;
import java.util.Objects;

/**
 * One example as read from a raw dataset: its class index and its pixels as unsigned bytes in HWC
 * order (see {@link io.distillery.data.ImageShape}). Equality compares pixel contents, not array
 * identity, so tests and de-duplication can compare records directly.
 */
public record LabeledImage(int label, byte[] pixels) {
    public LabeledImage {
        if (label < 0) {
            throw new IllegalArgumentException("label must be >= 0, got " + label);
        }
        Objects.requireNonNull(pixels, "pixels");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LabeledImage other && label == other.label && Arrays.equals(pixels, other.pixels);
    }

    @Override
    public int hashCode() {
        return 31 * label + Arrays.hashCode(pixels);
    }

    @Override
    public String toString() {
        return "LabeledImage[label=" + label + ", pixels=" + pixels.length + " bytes]";
    }
}
