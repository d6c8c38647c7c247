package io.distillery.jobs.cluster;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarOutputStream;
import java.util.zip.ZipEntry;

/**
 * The loopback standalone cluster of {@code cluster-config/local-cluster.sh}, driven from a test
 * through that same script: {@code start}, {@code submit} (each a driver JVM of its own, so a test
 * can kill it), {@code stop}.
 *
 * <p>Under {@code mvn test} no jar is packaged (the package phase comes after test), so the script
 * cannot use jobs/target/classpath.txt and the jobs jar. The test JVM's own class path stands in:
 * its jar entries become SPARK_HOME/jars (DISTILLERY_CLASSPATH), and its class directories (the
 * target/classes of common, data-prep and jobs under a reactor build) are packed into one temporary
 * application jar (DISTILLERY_JAR), which spark-submit ships to the executors as it would ship the
 * jobs jar. Test classes stay out: executors run only product code.
 */
final class LocalCluster implements AutoCloseable {
    static final Path ROOT = Path.of(System.getProperty("distillery.repo.root", "..")).toAbsolutePath().normalize();
    static final Path SCRIPT = ROOT.resolve("cluster-config/local-cluster.sh");

    final Path state;
    private final Map<String, String> env;
    String masterUrl;

    private LocalCluster(Path state, Map<String, String> env) {
        this.state = state;
        this.env = env;
    }

    /** Starts Master and two Workers with state under {@code dir}. */
    static LocalCluster start(Path dir) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        List<String> jars = new ArrayList<>();
        List<Path> classDirs = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(entry);
            if (Files.isDirectory(p)) {
                if (p.endsWith(Path.of("target", "classes"))) {
                    classDirs.add(p);
                }
            } else if (entry.endsWith(".jar") && Files.isRegularFile(p)) {
                jars.add(p.toAbsolutePath().toString());
            }
        }
        if (classDirs.isEmpty()) {
            throw new IllegalStateException("no target/classes directory on the test class path: " + System.getProperty("java.class.path"));
        }
        Path appJar = dir.resolve("distillery-app.jar");
        jar(classDirs, appJar);
        LocalCluster cluster = new LocalCluster(dir.resolve("state"), Map.of(
                "DISTILLERY_CLUSTER_DIR", dir.resolve("state").toString(),
                "DISTILLERY_CLASSPATH", String.join(File.pathSeparator, jars),
                "DISTILLERY_JAR", appJar.toString()));
        Result r = cluster.script(Path.of(dir.toString(), "start.log"), 240, "start");
        if (r.status != 0) {
            cluster.close();
            throw new IllegalStateException("local-cluster.sh start failed (" + r.status + "):\n" + r.output);
        }
        List<String> lines = r.output.lines().filter(l -> l.startsWith("spark://")).toList();
        cluster.masterUrl = lines.isEmpty() ? null : lines.get(lines.size() - 1);
        return cluster;
    }

    record Result(int status, String output) {
    }

    /** Runs the script to completion, output (stdout and stderr) into {@code log}. */
    Result script(Path log, int timeoutSeconds, String... args) throws IOException, InterruptedException {
        Process p = launch(log, args);
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new IllegalStateException("local-cluster.sh " + String.join(" ", args) + " ran over " + timeoutSeconds + " s; see " + log);
        }
        return new Result(p.exitValue(), Files.readString(log));
    }

    /**
     * Starts {@code local-cluster.sh submit args...} without waiting: the returned process is the
     * driver JVM itself (the script and spark-submit exec into it), so its pid is the driver's.
     */
    Process submit(Path log, String... args) throws IOException {
        String[] all = new String[args.length + 1];
        all[0] = "submit";
        System.arraycopy(args, 0, all, 1, args.length);
        return launch(log, all);
    }

    private Process launch(Path log, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("bash", SCRIPT.toString()));
        command.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(ROOT.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return pb.start();
    }

    /** The Worker JVMs the script started. */
    List<ProcessHandle> workers() {
        List<ProcessHandle> out = new ArrayList<>();
        for (int i = 1; ; i++) {
            Path pidFile = state.resolve("pids/worker-" + i);
            if (!Files.exists(pidFile)) {
                return out;
            }
            ProcessHandle.of(Long.parseLong(read(pidFile).trim())).ifPresent(out::add);
        }
    }

    /** Executor JVMs: children of our Workers running CoarseGrainedExecutorBackend. */
    List<ProcessHandle> executors() {
        List<ProcessHandle> out = new ArrayList<>();
        for (ProcessHandle worker : workers()) {
            worker.children().filter(c -> commandLine(c).contains("CoarseGrainedExecutorBackend")).forEach(out::add);
        }
        return out;
    }

    /** The executor JVM of Spark executor {@code id} (as the driver log names it), if running. */
    ProcessHandle executor(String id) {
        return executors().stream().filter(e -> commandLine(e).contains("--executor-id " + id + " ")).findFirst()
                .orElseThrow(() -> new IllegalStateException("no executor JVM with --executor-id " + id + " among " + executors().stream()
                        .map(LocalCluster::commandLine).toList()));
    }

    static String commandLine(ProcessHandle p) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return p.info().commandLine().orElse("");
        }
    }

    /** Every live process whose command line carries this cluster's marker, or which is one of its executors. */
    List<ProcessHandle> processes() {
        String marker = "-Ddistillery.local-cluster=" + state;
        List<ProcessHandle> out = new ArrayList<>(executors());
        ProcessHandle.allProcesses().filter(p -> commandLine(p).contains(marker)).forEach(out::add);
        return out;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        script(state.getParent().resolve("stop.log"), 120, "stop");
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void jar(List<Path> dirs, Path target) throws IOException {
        java.util.Set<String> seen = new java.util.HashSet<>();
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(target))) {
            for (Path dir : dirs) {
                try (var files = Files.walk(dir)) {
                    for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                        String name = dir.relativize(f).toString().replace(File.separatorChar, '/');
                        if (seen.add(name)) {
                            out.putNextEntry(new ZipEntry(name));
                            Files.copy(f, out);
                            out.closeEntry();
                        }
                    }
                }
            }
        }
    }
}
