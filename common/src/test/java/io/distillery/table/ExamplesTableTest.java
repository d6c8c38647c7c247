package io.distillery.table;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.distillery.data.ImageShape;
import org.junit.jupiter.api.Test;

/** HWC unsigned bytes to the CHW floats in [0, 1] that every model sees. */
class ExamplesTableTest {
    private static final ImageShape SHAPE = new ImageShape(2, 3, 3);

    /** Pixel (y, x) channel c holds 100y + 10x + c, except (1, 2): channel 1 is 128 and channel 2 is 255. */
    private static final int[] HWC = {
            0, 1, 2, /**/ 10, 11, 12, /**/ 20, 21, 22,
            100, 101, 102, /**/ 110, 111, 112, /**/ 120, 128, 255};

    /** The same values by channel plane, then row, then column. */
    private static final int[] CHW = {
            0, 10, 20, 100, 110, 120,
            1, 11, 21, 101, 111, 128,
            2, 12, 22, 102, 112, 255};

    private static byte[] bytes(int[] values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    @Test
    void mapsHwcBytesToChwFloatsAtOffset() {
        float[] dst = new float[2 + CHW.length + 1];
        dst[0] = dst[1] = dst[dst.length - 1] = -7f;
        ExamplesTable.toChw(bytes(HWC), SHAPE, dst, 2);

        float[] expected = new float[dst.length];
        expected[0] = expected[1] = expected[expected.length - 1] = -7f;
        for (int i = 0; i < CHW.length; i++) {
            expected[2 + i] = CHW[i] / 255f;
        }
        assertArrayEquals(expected, dst, 0f);
        // 255 (byte -1) must read as unsigned: exactly 1; 128 (byte -128) as 128/255
        assertArrayEquals(new float[]{1f, 128 / 255f, 0f}, new float[]{dst[2 + 17], dst[2 + 11], dst[2]}, 0f);
    }

    @Test
    void wrongLengthThrows() {
        float[] dst = new float[CHW.length];
        assertThrows(IllegalArgumentException.class, () -> ExamplesTable.toChw(new byte[HWC.length - 1], SHAPE, dst, 0));
        assertThrows(IllegalArgumentException.class, () -> ExamplesTable.toChw(new byte[HWC.length + 3], SHAPE, dst, 0));
    }
}
