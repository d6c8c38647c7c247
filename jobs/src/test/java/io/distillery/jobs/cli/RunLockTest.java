package io.distillery.jobs.cli;

import io.distillery.errors.BadInputException;
import io.distillery.runtime.Storage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The run directory lock: one holder, a clear refusal, stale locks of dead local processes taken over, nothing left behind. */
class RunLockTest {
    @TempDir
    Path tmp;

    @Test
    void aSecondHolderIsRefusedUntilTheFirstReleases() throws Exception {
        Path run = tmp.resolve("run");
        Files.createDirectories(run);
        Storage storage = Storage.local();
        Path lockFile = run.resolve(RunLock.FILE);
        try (RunLock first = RunLock.acquire(storage, run.toString(), "distill precompute")) {
            assertTrue(Files.exists(lockFile));
            assertTrue(Files.readString(lockFile).contains("pid=" + ProcessHandle.current().pid()));
            BadInputException e = assertThrows(BadInputException.class, () -> RunLock.acquire(storage, run.toString(), "distill distill"));
            assertTrue(e.getMessage().contains("is in use") && e.getMessage().contains(lockFile.toString())
                    && e.getMessage().contains("'distill precompute'") && e.getMessage().contains("delete that file"), e.getMessage());
        }
        assertFalse(Files.exists(lockFile));
        assertTrue(Files.isDirectory(run), "a run directory that existed stays");
        RunLock.acquire(storage, run.toString(), "distill prep").close();
    }

    @Test
    void aRunDirectoryCreatedOnlyForTheLockIsRemovedAgain() {
        Path run = tmp.resolve("new/run");
        RunLock.acquire(Storage.local(), run.toString(), "distill prep").close();
        assertFalse(Files.exists(run));
    }

    @Test
    void aLockLeftByADeadProcessOnThisHostIsTakenOver() throws Exception {
        Path run = tmp.resolve("run");
        Files.createDirectories(run);
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        String host = InetAddress.getLocalHost().getHostName();
        Files.writeString(run.resolve(RunLock.FILE), "host=" + host + "\npid=" + dead.pid() + "\nstarted=\ntime=then\ncommand=distill distill\n");
        try (RunLock lock = RunLock.acquire(Storage.local(), run.toString(), "distill distill --resume")) {
            assertTrue(Files.readString(run.resolve(RunLock.FILE)).contains("command=distill distill --resume"));
        }
        assertFalse(Files.exists(run.resolve(RunLock.FILE)));
    }

    @Test
    void aLockOfAnotherHostIsNeverTakenOver() throws Exception {
        Path run = tmp.resolve("run");
        Files.createDirectories(run);
        String other = "host=elsewhere.example\npid=1\nstarted=\ntime=2026-01-01T00:00:00Z\ncommand=distill pipeline\n";
        Files.writeString(run.resolve(RunLock.FILE), other);
        BadInputException e = assertThrows(BadInputException.class, () -> RunLock.acquire(Storage.local(), run.toString(), "distill prep"));
        assertTrue(e.getMessage().contains("pid 1 on elsewhere.example"), e.getMessage());
        assertEquals(other, Files.readString(run.resolve(RunLock.FILE)), "someone else's lock was touched");
    }

    @Test
    void aLiveProcessWithAnotherStartTimeIsAReusedPid() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        long self = ProcessHandle.current().pid();
        assertFalse(RunLock.isGoneFromThisHost(RunLock.parse(RunLock.describe("x"))));
        assertTrue(RunLock.isGoneFromThisHost(RunLock.parse("host=" + host + "\npid=" + self + "\nstarted=1970-01-01T00:00:00Z\n")));
    }
}
