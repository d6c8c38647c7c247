package io.distillery.prep.readers;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.prep.readers.FolderListing.Entry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.distillery.prep.readers.TestFiles.assertOneLine;
import static io.distillery.prep.readers.TestFiles.readAll;
import static io.distillery.prep.readers.TestFiles.u;
import static io.distillery.prep.readers.TestFiles.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageFolderReaderTest {
    @TempDir
    Path root;

    private static byte[] encode(BufferedImage image, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(image, format, out), "ImageIO can write " + format);
        return out.toByteArray();
    }

    private static byte[] decode(byte[] file, ImageShape target) {
        return ImageFolderReader.decode("test-image", TestFiles.stream(file), target);
    }

    /** A gray image whose pixel (y, x) holds {@code (y * w + x) * step}, all stored values distinct. */
    private static BufferedImage gray(int h, int w, int step) {
        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                image.getRaster().setSample(x, y, 0, ((y * w + x) * step) & 0xff);
            }
        }
        return image;
    }

    private static int rgbAt(int y, int x) {
        return (y * 40 + 7) << 16 | (x * 50 + 3) << 8 | (200 - y * 10 - x);
    }

    private static BufferedImage rgb(int h, int w, int type) {
        BufferedImage image = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                image.setRGB(x, y, (x * 60) << 24 | rgbAt(y, x));
            }
        }
        return image;
    }

    private static void assertRgb(byte[] px, int h, int w) {
        assertEquals(h * w * 3, px.length);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = (y * w + x) * 3;
                int expected = rgbAt(y, x);
                assertEquals(expected >> 16 & 0xff, u(px[i]), "R at " + y + "," + x);
                assertEquals(expected >> 8 & 0xff, u(px[i + 1]), "G at " + y + "," + x);
                assertEquals(expected & 0xff, u(px[i + 2]), "B at " + y + "," + x);
            }
        }
    }

    private void files(String... relativePaths) throws IOException {
        for (String p : relativePaths) {
            write(root.resolve(p), new byte[0]);
        }
    }

    @Test
    void listingSortsClassesAndFilesAndIgnoresNonImages() throws IOException {
        files("b_dog/z.png", "b_dog/a.JPG", "a_cat/2.jpeg", "a_cat/1.png", "a_cat/notes.txt", "a_cat/sub/3.PnG",
                "a_cat/.DS_Store", "a_cat/.hidden.png", ".cache/x.png", "top-level.png");
        FolderListing listing = ImageFolderReader.list(root);
        assertEquals(List.of("a_cat", "b_dog"), listing.classNames());
        assertEquals(List.of(new Entry("a_cat/1.png", 0), new Entry("a_cat/2.jpeg", 0), new Entry("a_cat/sub/3.PnG", 0),
                new Entry("b_dog/a.JPG", 1), new Entry("b_dog/z.png", 1)), listing.entries());
        assertEquals(root + "/b_dog/z.png", listing.fileName(listing.entries().get(4)));
    }

    @Test
    void listingFromNamesAloneMatchesAndIgnoresInputOrder() {
        FolderListing listing = FolderListing.of("hdfs://nn/data/flowers/",
                List.of("tulip", "daisy", "Rose"),
                List.of("tulip/b.jpg", "daisy/x.png", "Rose/1.jpeg", "tulip/a.jpg", "daisy/readme.md", "index.png"));
        // Code-unit order, as Python's sorted(): upper case first.
        assertEquals(List.of("Rose", "daisy", "tulip"), listing.classNames());
        assertEquals(List.of(new Entry("Rose/1.jpeg", 0), new Entry("daisy/x.png", 1),
                new Entry("tulip/a.jpg", 2), new Entry("tulip/b.jpg", 2)), listing.entries());
        assertEquals("hdfs://nn/data/flowers/tulip/a.jpg", listing.fileName(listing.entries().get(2)));
    }

    @Test
    void missingRootIsNamed() {
        Path missing = root.resolve("nope");
        BadInputException e = assertThrows(BadInputException.class, () -> ImageFolderReader.list(missing));
        assertEquals("image folder " + missing + " does not exist", e.getMessage());
    }

    @Test
    void rootThatIsAFileIsRefused() throws IOException {
        Path file = write(root.resolve("file.png"), new byte[0]);
        BadInputException e = assertThrows(BadInputException.class, () -> ImageFolderReader.list(file));
        assertTrue(e.getMessage().startsWith(file + " is not a folder"), e.getMessage());
    }

    @Test
    void rootWithoutClassFoldersIsRefused() throws IOException {
        files("a.png", ".git/config");
        BadInputException e = assertThrows(BadInputException.class, () -> ImageFolderReader.list(root));
        assertTrue(e.getMessage().startsWith("image folder " + root + " has no class subfolders"), e.getMessage());
    }

    @Test
    void classFolderWithoutImagesIsNamed() throws IOException {
        files("cat/1.png", "dog/readme.txt");
        Files.createDirectories(root.resolve("emu"));
        BadInputException e = assertThrows(BadInputException.class, () -> ImageFolderReader.list(root));
        assertEquals("image folder " + root + ": class folder dog holds no png/jpg/jpeg images; remove it or add images",
                e.getMessage());
    }

    @Test
    void grayPngKeepsStoredValuesExactly() throws IOException {
        byte[] png = encode(gray(4, 5, 13), "png");
        byte[] one = decode(png, new ImageShape(4, 5, 1));
        for (int i = 0; i < 20; i++) {
            assertEquals((i * 13) & 0xff, u(one[i]), "pixel " + i);
        }
        byte[] three = decode(png, new ImageShape(4, 5, 3));
        for (int i = 0; i < 20; i++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(u(one[i]), u(three[3 * i + c]), "gray replicated into channel " + c);
            }
        }
    }

    @Test
    void sixteenBitGrayIsScaledToEightBits() throws IOException {
        BufferedImage image = new BufferedImage(3, 1, BufferedImage.TYPE_USHORT_GRAY);
        image.getRaster().setSamples(0, 0, 3, 1, 0, new int[] {0, 128 * 257, 65535});
        assertArrayEquals(new byte[] {0, (byte) 128, (byte) 255}, decode(encode(image, "png"), new ImageShape(1, 3, 1)));
    }

    @Test
    void rgbPngRoundTripsAndConvertsToLuma() throws IOException {
        byte[] png = encode(rgb(3, 4, BufferedImage.TYPE_INT_RGB), "png");
        assertRgb(decode(png, new ImageShape(3, 4, 3)), 3, 4);
        byte[] luma = decode(png, new ImageShape(3, 4, 1));
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 4; x++) {
                int c = rgbAt(y, x);
                double l = 0.299 * (c >> 16 & 0xff) + 0.587 * (c >> 8 & 0xff) + 0.114 * (c & 0xff);
                assertEquals(l, u(luma[y * 4 + x]), 0.51, "luma at " + y + "," + x);
            }
        }
    }

    @Test
    void argbPngDropsAlpha() throws IOException {
        assertRgb(decode(encode(rgb(3, 4, BufferedImage.TYPE_INT_ARGB), "png"), new ImageShape(3, 4, 3)), 3, 4);
    }

    @Test
    void indexedPngUsesPaletteColours() throws IOException {
        byte[] r = {(byte) 255, 0, 0, 17};
        byte[] g = {0, (byte) 255, 0, 34};
        byte[] b = {0, 0, (byte) 255, 51};
        BufferedImage image = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, 4, r, g, b));
        image.getRaster().setSamples(0, 0, 4, 1, 0, new int[] {3, 2, 1, 0});
        byte[] px = decode(encode(image, "png"), new ImageShape(1, 4, 3));
        assertArrayEquals(new byte[] {17, 34, 51, 0, 0, (byte) 255, 0, (byte) 255, 0, (byte) 255, 0, 0}, px);
    }

    @Test
    void jpegDecodesCloseToTheOriginal() throws IOException {
        BufferedImage colour = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                colour.setRGB(x, y, 0x4080c0);
            }
        }
        byte[] px = decode(encode(colour, "jpg"), new ImageShape(16, 16, 3));
        for (int i = 0; i < px.length; i += 3) {
            assertEquals(0x40, u(px[i]), 4);
            assertEquals(0x80, u(px[i + 1]), 4);
            assertEquals(0xc0, u(px[i + 2]), 4);
        }
        BufferedImage gray = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        int[] flat = new int[64];
        Arrays.fill(flat, 90);
        gray.getRaster().setSamples(0, 0, 8, 8, 0, flat);
        for (byte v : decode(encode(gray, "jpg"), new ImageShape(8, 8, 1))) {
            assertEquals(90, u(v), 2);
        }
    }

    @Test
    void bilinearResizeUsesPixelCentres() throws IOException {
        BufferedImage image = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_GRAY);
        image.getRaster().setSamples(0, 0, 2, 1, 0, new int[] {0, 255});
        // Sampling points -0.25 (clamped), 0.25, 0.75, 1.25 (clamped) between the two pixels.
        assertArrayEquals(new byte[] {0, 64, (byte) 191, (byte) 255}, decode(encode(image, "png"), new ImageShape(1, 4, 1)));
        assertArrayEquals(new byte[] {0, 64, (byte) 191, (byte) 255, 0, 64, (byte) 191, (byte) 255},
                decode(encode(image, "png"), new ImageShape(2, 4, 1)));
    }

    @Test
    void resizeKeepsUniformColourAndDownscales() throws IOException {
        BufferedImage image = new BufferedImage(7, 5, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 5; y++) {
            for (int x = 0; x < 7; x++) {
                image.setRGB(x, y, 0x0a14c8);
            }
        }
        byte[] px = decode(encode(image, "png"), new ImageShape(3, 2, 3));
        assertEquals(3 * 2 * 3, px.length);
        for (int i = 0; i < px.length; i += 3) {
            assertArrayEquals(new byte[] {10, 20, (byte) 200}, new byte[] {px[i], px[i + 1], px[i + 2]});
        }
    }

    @Test
    void undecodableFileIsNamed() {
        BadInputException e = assertThrows(BadInputException.class, () -> ImageFolderReader.decode(
                "cats/broken.png", TestFiles.stream("not an image".getBytes()), new ImageShape(2, 2, 3)));
        assertTrue(e.getMessage().startsWith("cats/broken.png: "), e.getMessage());
        assertOneLine(e);
    }

    @Test
    void truncatedPngIsNamed() throws IOException {
        byte[] png = encode(rgb(20, 20, BufferedImage.TYPE_INT_RGB), "png");
        BadInputException e = assertThrows(BadInputException.class, () -> ImageFolderReader.decode(
                "half.png", TestFiles.stream(TestFiles.firstBytes(png, png.length / 2)), new ImageShape(20, 20, 3)));
        assertTrue(e.getMessage().startsWith("half.png: cannot decode image"), e.getMessage());
    }

    @Test
    void storedShapeIsOneChannelForGrayAndThreeForColourAndPalettes() throws IOException {
        assertEquals(new ImageShape(3, 5, 1), ImageFolderReader.storedShape("g.png", TestFiles.stream(encode(gray(3, 5, 1), "png"))));
        assertEquals(new ImageShape(4, 2, 3), ImageFolderReader.storedShape("c.png",
                TestFiles.stream(encode(rgb(4, 2, BufferedImage.TYPE_INT_ARGB), "png"))));
        BufferedImage palette = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_INDEXED);
        assertEquals(new ImageShape(2, 2, 3), ImageFolderReader.storedShape("p.png", TestFiles.stream(encode(palette, "png"))));
    }

    @Test
    void withoutResizingAnImageOfTheTargetShapeKeepsItsPixels() throws IOException {
        byte[] png = encode(gray(3, 4, 20), "png");
        assertArrayEquals(decode(png, new ImageShape(3, 4, 1)),
                ImageFolderReader.decode("g.png", TestFiles.stream(png), new ImageShape(3, 4, 1), false));
    }

    @Test
    void withoutResizingAnImageOfAnotherShapeIsNamed() throws IOException {
        byte[] png = encode(rgb(4, 6, BufferedImage.TYPE_INT_RGB), "png");
        BadInputException e = assertThrows(BadInputException.class, () -> ImageFolderReader.decode(
                "cats/wide.png", TestFiles.stream(png), new ImageShape(4, 4, 3), false));
        assertTrue(e.getMessage().startsWith("cats/wide.png: image is 4x6x3"), e.getMessage());
        assertTrue(e.getMessage().contains("first image is 4x4x3") && e.getMessage().contains("data.image-size"), e.getMessage());
        assertOneLine(e);
        BadInputException gray = assertThrows(BadInputException.class, () -> ImageFolderReader.decode(
                "cats/gray.png", TestFiles.stream(encode(gray(4, 4, 1), "png")), new ImageShape(4, 4, 3), false));
        assertTrue(gray.getMessage().startsWith("cats/gray.png: image is 4x4x1"), gray.getMessage());
    }

    @Test
    void fourChannelTargetIsRefused() {
        BadInputException e = assertThrows(BadInputException.class, () -> ImageFolderReader.decode(
                "x.png", TestFiles.stream(new byte[0]), new ImageShape(2, 2, 4)));
        assertTrue(e.getMessage().contains("channels must be 1 or 3"), e.getMessage());
    }

    @Test
    void sourceReadsListingInOrderAndNamesBadFiles() throws IOException {
        write(root.resolve("b/x.png"), encode(gray(2, 2, 100), "png"));
        write(root.resolve("a/2.png"), encode(rgb(4, 4, BufferedImage.TYPE_INT_RGB), "png"));
        write(root.resolve("a/1.jpg"), encode(gray(3, 3, 10), "jpg"));
        write(root.resolve("b/y.jpeg"), "garbage".getBytes());
        try (ImageSource source = ImageFolderReader.open(root, new ImageShape(2, 2, 3))) {
            assertEquals(4, source.size());
            assertEquals(new ImageShape(2, 2, 3), source.shape());
            assertEquals(root.toString(), source.name());
            assertEquals(List.of(0, 0, 1), List.of(source.next().label(), source.next().label(), source.next().label()));
            BadInputException e = assertThrows(BadInputException.class, source::next);
            assertTrue(e.getMessage().startsWith(root + "/b/y.jpeg: "), e.getMessage());
            assertFalse(source.hasNext());
        }
    }

    @Test
    void sourceOverListingUsesTheOpener() throws IOException {
        byte[] png = encode(rgb(2, 3, BufferedImage.TYPE_INT_RGB), "png");
        FolderListing listing = FolderListing.of("mem:", List.of("only"), List.of("only/a.png", "only/b.png"));
        List<String> opened = new ArrayList<>();
        try (ImageSource source = ImageFolderReader.open(listing, new ImageShape(2, 3, 3), p -> {
            opened.add(p);
            return TestFiles.stream(png);
        })) {
            List<LabeledImage> all = readAll(source);
            assertEquals(2, all.size());
            assertRgb(all.get(1).pixels(), 2, 3);
        }
        assertEquals(List.of("only/a.png", "only/b.png"), opened);
    }
}
