package io.distillery.prep.readers;

import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;

import javax.imageio.ImageIO;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Reads a folder of PNG/JPEG images with one subfolder per class. Listing ({@link FolderListing}) is
 * kept apart from decoding so that a Spark driver can list once and tasks decode their share of the
 * entries through whatever file system holds them ({@link #open(FolderListing, ImageShape, Opener)}).
 */
public final class ImageFolderReader {
    /** Opens one listed file by its relative path; lets callers read through Hadoop's FileSystem. */
    @FunctionalInterface
    public interface Opener {
        InputStream open(String relativePath) throws IOException;
    }

    private ImageFolderReader() {
    }

    /** Lists a local folder; subfolders of class folders are searched too, following links. */
    public static FolderListing list(Path root) {
        if (!Files.exists(root)) {
            throw new BadInputException("image folder " + root + " does not exist");
        }
        if (!Files.isDirectory(root)) {
            throw new BadInputException(root + " is not a folder; expected an image folder with one subfolder per class");
        }
        try (Stream<Path> children = Files.list(root)) {
            List<Path> classDirs = children
                    .filter(p -> Files.isDirectory(p) && !p.getFileName().toString().startsWith("."))
                    .toList();
            List<String> files = new ArrayList<>();
            for (Path dir : classDirs) {
                try (Stream<Path> walk = Files.walk(dir, FileVisitOption.FOLLOW_LINKS)) {
                    walk.filter(Files::isRegularFile).forEach(f -> files.add(relative(root, f)));
                }
            }
            return FolderListing.of(root.toString(),
                    classDirs.stream().map(d -> d.getFileName().toString()).toList(), files);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list image folder " + root + ": " + e.getMessage(), e);
        }
    }

    /**
     * Decodes one PNG or JPEG into {@code target}'s layout: gray, RGB, ARGB (alpha dropped) and
     * palette images become 1 channel (luminance) or 3 (RGB), then are resized bilinearly to the
     * target height and width if they differ (aspect ratio is not kept). Does not close {@code in}.
     */
    public static byte[] decode(String name, InputStream in, ImageShape target) {
        return decode(name, in, target, true);
    }

    /**
     * As {@link #decode(String, InputStream, ImageShape)}, or, with {@code resize} false, for folders
     * whose images must all have {@code target} (the first image's {@link #storedShape stored shape}):
     * an image of another shape is then bad input instead of being converted.
     */
    public static byte[] decode(String name, InputStream in, ImageShape target, boolean resize) {
        requireGrayOrRgb(name, target);
        BufferedImage image = read(name, in);
        if (!resize) {
            ImageShape stored = storedShape(image);
            if (!stored.equals(target)) {
                throw new BadInputException(name + ": image is " + stored + " (height x width x channels) but the folder's first image is "
                        + target + "; images of different shapes need data.image-size, which resizes every image to one shape");
            }
        }
        byte[] pixels = PixelConversion.toChannels(image, target.channels());
        return PixelConversion.resizeBilinear(pixels, image.getHeight(), image.getWidth(), target.channels(),
                target.height(), target.width());
    }

    /** Height, width and channels of one PNG or JPEG as stored: 1 channel for gray, 3 for any other. Does not close {@code in}. */
    public static ImageShape storedShape(String name, InputStream in) {
        return storedShape(read(name, in));
    }

    /** Lists and reads a local folder, in the listing's order. */
    public static ImageSource open(Path root, ImageShape target) {
        return open(list(root), target, relativePath -> Files.newInputStream(root.resolve(relativePath)));
    }

    /** Reads the listed images in the listing's order, resized to {@code target}, opening each through {@code opener}. */
    public static ImageSource open(FolderListing listing, ImageShape target, Opener opener) {
        return open(listing, target, true, opener);
    }

    /** As {@link #open(FolderListing, ImageShape, Opener)}; {@code resize} as in {@link #decode(String, InputStream, ImageShape, boolean)}. */
    public static ImageSource open(FolderListing listing, ImageShape target, boolean resize, Opener opener) {
        requireGrayOrRgb(listing.root(), target);
        List<FolderListing.Entry> entries = listing.entries();
        return new RecordSource(listing.root(), target, entries.size()) {
            @Override
            protected LabeledImage read(long index) throws IOException {
                FolderListing.Entry entry = entries.get((int) index);
                try (InputStream in = opener.open(entry.relativePath())) {
                    return new LabeledImage(entry.label(), decode(listing.fileName(entry), in, target, resize));
                }
            }

            @Override
            public void close() {
                // Each file is closed as soon as it is read.
            }
        };
    }

    private static BufferedImage read(String name, InputStream in) {
        BufferedImage image;
        try {
            image = ImageIO.read(new MemoryCacheImageInputStream(in));
        } catch (IOException | RuntimeException e) {
            throw new BadInputException(name + ": cannot decode image (" + e.getMessage() + "); expected a PNG or JPEG file", e);
        }
        if (image == null) {
            throw new BadInputException(name + ": not a PNG or JPEG image (no decoder recognises its content)");
        }
        return image;
    }

    private static ImageShape storedShape(BufferedImage image) {
        return new ImageShape(image.getHeight(), image.getWidth(), PixelConversion.storedChannels(image));
    }

    private static void requireGrayOrRgb(String name, ImageShape target) {
        if (target.channels() != 1 && target.channels() != 3) {
            throw new BadInputException("image shape " + target + " for " + name + ": channels must be 1 or 3");
        }
    }

    private static String relative(Path root, Path file) {
        return root.relativize(file).toString().replace(file.getFileSystem().getSeparator(), "/");
    }
}
