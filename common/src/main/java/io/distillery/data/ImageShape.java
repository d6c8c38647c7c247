package io.distillery.data;

import java.io.Serializable;

/**
 * Shape of one stored image: height, width and channels. Pixels are stored as unsigned bytes in
 * HWC order (row-major, channels last), so a reader needs only this triple to decode them.
 */
public record ImageShape(int height, int width, int channels) implements Serializable {
    public ImageShape {
        if (height <= 0 || width <= 0 || channels <= 0) {
            throw new IllegalArgumentException("image shape must be positive, got " + height + "x" + width + "x" + channels);
        }
    }

    /** Number of bytes (= values) in one image. */
    public int pixelCount() {
        return height * width * channels;
    }

    @Override
    public String toString() {
        return height + "x" + width + "x" + channels;
    }
}
