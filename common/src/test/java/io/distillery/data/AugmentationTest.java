package io.distillery.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The augmentation's image transform: shifts with zeros entering, the horizontal flip, channels kept together. */
class AugmentationTest {
    private static final ImageShape GREY = new ImageShape(3, 4, 1);

    /** 3x4 grey image with pixel (y, x) = 10 * y + x + 1. */
    private static byte[] grey() {
        byte[] b = new byte[12];
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 4; x++) {
                b[y * 4 + x] = (byte) (10 * y + x + 1);
            }
        }
        return b;
    }

    @Test
    void noShiftNoFlipIsTheImageItself() {
        assertArrayEquals(grey(), Augmentation.apply(grey(), GREY, 0, 0, false));
    }

    @Test
    void shiftReadsFromYPlusDyXPlusDxWithZerosOutside() {
        byte[] out = Augmentation.apply(grey(), GREY, 1, -1, false);
        // out(y, x) = in(y - 1, x + 1): row 0 comes from outside (zeros), the last column too.
        assertArrayEquals(new byte[]{0, 0, 0, 0, 2, 3, 4, 0, 12, 13, 14, 0}, out);
    }

    @Test
    void flipMirrorsEachRowBeforeTheShift() {
        assertArrayEquals(new byte[]{4, 3, 2, 1, 14, 13, 12, 11, 24, 23, 22, 21}, Augmentation.apply(grey(), GREY, 0, 0, true));
        // flipped, then out(y, x) = flipped(y, x + 1)
        assertArrayEquals(new byte[]{3, 2, 1, 0, 13, 12, 11, 0, 23, 22, 21, 0}, Augmentation.apply(grey(), GREY, 1, 0, true));
    }

    @Test
    void colourChannelsMoveTogether() {
        ImageShape rgb = new ImageShape(1, 2, 3);
        byte[] in = {1, 2, 3, 4, 5, 6};
        assertArrayEquals(new byte[]{4, 5, 6, 1, 2, 3}, Augmentation.apply(in, rgb, 0, 0, true));
        assertArrayEquals(new byte[]{0, 0, 0, 1, 2, 3}, Augmentation.apply(in, rgb, -1, 0, false));
    }

    @Test
    void negativePaddingIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Augmentation(-1, true, 1));
    }
}
