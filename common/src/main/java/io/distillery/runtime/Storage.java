package io.distillery.runtime;

import io.distillery.errors.BadInputException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Every file the pipeline touches goes through Hadoop's FileSystem API, so runs work the same on a
 * laptop (file:) and a cluster (hdfs:, s3a:). IO errors surface as unchecked exceptions naming the path.
 */
public final class Storage implements Serializable {
    private final HadoopConf conf;

    public Storage(Configuration conf) {
        this.conf = new HadoopConf(conf);
    }

    public static Storage local() {
        return new Storage(new Configuration());
    }

    public Configuration conf() {
        return conf.get();
    }

    public FileSystem fs(String path) {
        try {
            FileSystem fs = new Path(path).getFileSystem(conf.get());
            // No hidden .crc siblings on local disks: a manifest edited by hand or rewritten by another
            // tool must stay readable, and pyarrow/DuckDB users should see only the data files.
            fs.setWriteChecksum(false);
            fs.setVerifyChecksum(false);
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open file system of " + path, e);
        }
    }

    /** Fully qualified form (scheme and authority), so Spark and we mean the same location. */
    public String qualify(String path) {
        Path p = new Path(path);
        return fs(path).makeQualified(p).toString();
    }

    public boolean exists(String path) {
        try {
            return fs(path).exists(new Path(path));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check " + path, e);
        }
    }

    public boolean isDirectory(String path) {
        try {
            return fs(path).getFileStatus(new Path(path)).isDirectory();
        } catch (java.io.FileNotFoundException e) {
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot stat " + path, e);
        }
    }

    public long size(String path) {
        try {
            return fs(path).getFileStatus(new Path(path)).getLen();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot stat " + path, e);
        }
    }

    public void mkdirs(String path) {
        try {
            FileSystem fs = fs(path);
            Path p = new Path(path);
            // Some file systems answer false instead of throwing (e.g. a parent that is a file).
            if (!fs.mkdirs(p) && !fs.getFileStatus(p).isDirectory()) {
                throw new IOException("mkdirs returned false");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + path, e);
        }
    }

    public void delete(String path) {
        try {
            fs(path).delete(new Path(path), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + path, e);
        }
    }

    public void rename(String from, String to) {
        try {
            Path target = new Path(to);
            fs(to).mkdirs(target.getParent());
            if (!fs(from).rename(new Path(from), target)) {
                throw new IOException("rename returned false");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rename " + from + " to " + to, e);
        }
    }

    /** Names (not paths) of the entries of a directory, sorted; empty when it does not exist. */
    public List<String> list(String dir) {
        try {
            FileSystem fs = fs(dir);
            Path p = new Path(dir);
            List<String> names = new ArrayList<>();
            if (!fs.exists(p)) {
                return names;
            }
            for (FileStatus s : fs.listStatus(p)) {
                names.add(s.getPath().getName());
            }
            names.sort(String::compareTo);
            return names;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    public InputStream open(String path) {
        try {
            return fs(path).open(new Path(path));
        } catch (java.io.FileNotFoundException e) {
            throw new BadInputException("file " + path + " does not exist");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + path, e);
        }
    }

    public OutputStream create(String path) {
        try {
            FSDataOutputStream out = fs(path).create(new Path(path), true);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + path, e);
        }
    }

    public String readString(String path) {
        try (InputStream in = open(path)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path, e);
        }
    }

    public byte[] readBytes(String path) {
        try (InputStream in = open(path)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path, e);
        }
    }

    /** Writes through a temporary sibling and a rename, so readers never see half a file. */
    public void writeString(String path, String content) {
        writeBytes(path, content.getBytes(StandardCharsets.UTF_8));
    }

    public void writeBytes(String path, byte[] content) {
        String tmp = path + ".tmp";
        try (OutputStream out = create(tmp)) {
            out.write(content);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + tmp, e);
        }
        delete(path);
        rename(tmp, path);
    }

    /** Streams the file once through SHA-256: {@code sha256:<hex>}. */
    public String sha256(String path) {
        try (InputStream in = new DigestInputStream(open(path), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(OutputStream.nullOutputStream());
            return "sha256:" + HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Joins path segments with '/', as Hadoop paths do on every file system. */
    public static String join(String first, String... more) {
        StringBuilder b = new StringBuilder(first);
        for (String m : more) {
            if (b.length() > 0 && b.charAt(b.length() - 1) != '/') {
                b.append('/');
            }
            b.append(m);
        }
        return b.toString();
    }
}
