package io.distillery.jobs.cli;

import io.distillery.errors.BadInputException;
import io.distillery.runtime.Storage;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.util.ShutdownHookManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * One command at a time per run directory: {@code <run-dir>/_distillery.lock}, created atomically
 * (an exclusive create on local disks; {@code create(overwrite = false)}, which the HDFS NameNode
 * decides atomically, elsewhere) before Spark starts, holding the host, pid, process start time and
 * command of its owner, and removed when the command ends, also on SIGTERM. A second command on the
 * same run directory stops with one line naming the lock file. A lock left by a process that was
 * killed outright (kill -9, a lost machine) is taken over when its owner ran on this host and is
 * gone; from another host nobody can tell, so the message says how to remove it.
 */
final class RunLock implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RunLock.class);
    static final String FILE = "_distillery.lock";

    private final Storage storage;
    private final String dir;
    private final String path;
    private final String content;
    private final boolean createdDir;
    private final Runnable hook;
    private boolean released;

    private RunLock(Storage storage, String dir, String path, String content, boolean createdDir) {
        this.storage = storage;
        this.dir = dir;
        this.path = path;
        this.content = content;
        this.createdDir = createdDir;
        this.hook = this::release;
        // Also on SIGTERM: after Spark's own hooks stop the context, before Hadoop closes the file systems.
        ShutdownHookManager.get().addShutdownHook(hook, FileSystem.SHUTDOWN_HOOK_PRIORITY + 10);
    }

    /** Takes the lock of {@code runDir} for {@code command}, or ends the command with one line saying who holds it. */
    static RunLock acquire(Storage storage, String runDir, String command) {
        String dir = storage.qualify(runDir);
        String path = Storage.join(dir, FILE);
        boolean existed = storage.exists(dir);
        if (existed && !storage.isDirectory(dir)) {
            throw new BadInputException("run-dir " + dir + " is a file, not a directory");
        }
        storage.mkdirs(dir);
        String content = describe(command);
        for (int attempt = 0; attempt < 30; attempt++) {
            if (tryCreate(storage, path, content)) {
                return new RunLock(storage, dir, path, content, !existed);
            }
            Optional<String> held = read(storage, path);
            if (held.isEmpty()) {
                continue; // removed between our create and our read
            }
            Map<String, String> owner = parse(held.get());
            if (owner.isEmpty()) {
                sleep(100); // its owner creates it, then writes it: read again
                continue;
            }
            if (isGoneFromThisHost(owner)) {
                log.warn("run directory lock {} was left by pid {} on this host, which is no longer running; taking it over", path,
                        owner.get("pid"));
                storage.delete(path);
                continue;
            }
            throw new BadInputException("run directory " + dir + " is in use: " + path + " is held by '" + owner.getOrDefault("command", "?")
                    + "' (pid " + owner.get("pid") + " on " + owner.get("host") + " since " + owner.getOrDefault("time", "?")
                    + "); wait for it to end, or delete that file if the process is gone");
        }
        throw new BadInputException("cannot take the run directory lock " + path + ": it stays unreadable or keeps changing; delete it if no "
                + "distill command is using " + dir);
    }

    /** Removes the lock file if it is still ours, and the run directory if this command created it and left it empty. */
    @Override
    public synchronized void close() {
        release();
        if (!ShutdownHookManager.get().isShutdownInProgress()) {
            ShutdownHookManager.get().removeShutdownHook(hook);
        }
    }

    private synchronized void release() {
        if (released) {
            return;
        }
        released = true;
        try {
            if (read(storage, path).map(content::equals).orElse(false)) {
                storage.delete(path);
            }
            if (createdDir && storage.list(dir).isEmpty()) {
                storage.delete(dir);
            }
        } catch (RuntimeException e) {
            log.warn("could not remove run directory lock {}: {}", path, e.toString());
        }
    }

    private static boolean tryCreate(Storage storage, String path, String content) {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        Path p = new Path(path);
        try {
            if ("file".equals(p.toUri().getScheme())) {
                // Hadoop's local file system checks, then creates: not atomic. O_EXCL is.
                java.nio.file.Path local = java.nio.file.Path.of(p.toUri());
                Files.createFile(local);
                Files.write(local, bytes);
                return true;
            }
            FileSystem fs = storage.fs(path);
            try (OutputStream out = fs.create(p, false)) {
                out.write(bytes);
            }
            return true;
        } catch (java.nio.file.FileAlreadyExistsException | FileAlreadyExistsException e) {
            return false;
        } catch (IOException e) {
            if (storage.exists(path)) {
                return false; // some file systems report an existing file as a plain IOException
            }
            throw new UncheckedIOException("cannot create the run directory lock " + path, e);
        }
    }

    private static Optional<String> read(Storage storage, String path) {
        try {
            return Optional.of(storage.readString(path));
        } catch (RuntimeException e) {
            if (!storage.exists(path)) {
                return Optional.empty();
            }
            throw e;
        }
    }

    static String describe(String command) {
        ProcessHandle self = ProcessHandle.current();
        return "host=" + hostName() + "\npid=" + self.pid() + "\nstarted=" + self.info().startInstant().map(Instant::toString).orElse("")
                + "\ntime=" + Instant.now() + "\ncommand=" + command.replace('\n', ' ') + "\n";
    }

    static Map<String, String> parse(String text) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                m.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return m.containsKey("pid") && m.containsKey("host") ? m : Map.of();
    }

    /** The owner ran on this host and that process (same pid and start time) no longer exists. */
    static boolean isGoneFromThisHost(Map<String, String> owner) {
        if (!hostName().equals(owner.get("host"))) {
            return false;
        }
        long pid;
        try {
            pid = Long.parseLong(owner.get("pid"));
        } catch (NumberFormatException e) {
            return false;
        }
        Optional<ProcessHandle> process = ProcessHandle.of(pid);
        if (process.isEmpty() || !process.get().isAlive()) {
            return true;
        }
        String started = owner.getOrDefault("started", "");
        return !started.isEmpty() && !process.get().info().startInstant().map(Instant::toString).orElse("").equals(started);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
