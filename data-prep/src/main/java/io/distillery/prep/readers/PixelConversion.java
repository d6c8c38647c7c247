package io.distillery.prep.readers;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;

/**
 * Turns decoded images into HWC uint8 arrays of the wanted channels and size. Done by hand rather
 * than through Java2D, because Java2D treats stored gray as linear light ({@code getRGB} turns gray 128
 * into 188) and its scaling depends on rendering hints; this code gives PIL's {@code convert("L")} /
 * {@code convert("RGB")} bytes on every JVM.
 */
final class PixelConversion {
    private PixelConversion() {
    }

    /** Channels of {@code image} as stored: 1 for gray, 3 for anything else (colour, palette; alpha is dropped). */
    static int storedChannels(BufferedImage image) {
        return isStoredGray(image.getColorModel()) ? 1 : 3;
    }

    /** Pixels of {@code image} as 1 (luminance) or 3 (RGB) channels in HWC order; alpha is dropped. */
    static byte[] toChannels(BufferedImage image, int channels) {
        int w = image.getWidth();
        int h = image.getHeight();
        byte[] out = new byte[w * h * channels];
        ColorModel cm = image.getColorModel();
        if (isStoredGray(cm)) {
            // Stored gray values are already what the file means; read them, do not colour-manage them.
            Raster raster = image.getRaster();
            int max = (1 << cm.getComponentSize(0)) - 1;
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; x++) {
                    int v = (row[x] * 255 + max / 2) / max;
                    for (int c = 0; c < channels; c++) {
                        out[(y * w + x) * channels + c] = (byte) v;
                    }
                }
            }
            return out;
        }
        int[] argb = image.getRGB(0, 0, w, h, null, 0, w);
        for (int i = 0; i < argb.length; i++) {
            int r = argb[i] >> 16 & 0xff;
            int g = argb[i] >> 8 & 0xff;
            int b = argb[i] & 0xff;
            if (channels == 1) {
                // ITU-R 601-2 luma in 16-bit fixed point, PIL's formula: weights sum to 65536.
                out[i] = (byte) ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
            } else {
                out[3 * i] = (byte) r;
                out[3 * i + 1] = (byte) g;
                out[3 * i + 2] = (byte) b;
            }
        }
        return out;
    }

    private static boolean isStoredGray(ColorModel cm) {
        return cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY && !(cm instanceof IndexColorModel);
    }

    /**
     * Bilinear resize of an HWC image with pixel centres at +0.5 (OpenCV's INTER_LINEAR, PyTorch's
     * align_corners=false). No antialiasing: strong downscaling aliases, as it does there.
     */
    static byte[] resizeBilinear(byte[] src, int srcH, int srcW, int channels, int dstH, int dstW) {
        if (srcH == dstH && srcW == dstW) {
            return src;
        }
        Axis ys = new Axis(srcH, dstH);
        Axis xs = new Axis(srcW, dstW);
        byte[] dst = new byte[dstH * dstW * channels];
        for (int y = 0; y < dstH; y++) {
            int row0 = ys.lo[y] * srcW;
            int row1 = ys.hi[y] * srcW;
            double fy = ys.frac[y];
            for (int x = 0; x < dstW; x++) {
                double fx = xs.frac[x];
                for (int c = 0; c < channels; c++) {
                    double top = lerp(src[(row0 + xs.lo[x]) * channels + c], src[(row0 + xs.hi[x]) * channels + c], fx);
                    double bottom = lerp(src[(row1 + xs.lo[x]) * channels + c], src[(row1 + xs.hi[x]) * channels + c], fx);
                    dst[(y * dstW + x) * channels + c] = (byte) (int) Math.min(255, top + (bottom - top) * fy + 0.5);
                }
            }
        }
        return dst;
    }

    private static double lerp(byte a, byte b, double t) {
        int ua = a & 0xff;
        return ua + ((b & 0xff) - ua) * t;
    }

    /** Source neighbours and weight for each destination coordinate along one axis. */
    private static final class Axis {
        final int[] lo;
        final int[] hi;
        final double[] frac;

        Axis(int src, int dst) {
            lo = new int[dst];
            hi = new int[dst];
            frac = new double[dst];
            double scale = (double) src / dst;
            for (int i = 0; i < dst; i++) {
                double s = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), src - 1);
                lo[i] = (int) s;
                hi[i] = Math.min(lo[i] + 1, src - 1);
                frac[i] = s - lo[i];
            }
        }
    }
}
