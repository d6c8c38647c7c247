package org.nd4j.nativeblas;

import java.lang.reflect.Method;

/**
 * Compatibility shim, not ND4J's own class. DL4J 1.0.0-M2.1 decides whether to use its oneDNN
 * layer helpers by reflectively calling {@code org.nd4j.nativeblas.Nd4jCpu$Environment.isUseMKLDNN()},
 * a class that moved to {@code org.nd4j.linalg.cpu.nativecpu.bindings} and renamed the method. Without
 * this class the lookup fails silently and every convolution runs the slow built-in path (6.5x slower
 * training, 17x slower inference measured here). We delegate to the real bindings, found by name so
 * that this class also compiles and loads with the CUDA backend (the {@code cuda} profile), which
 * has no CPU bindings: there oneDNN is reported off.
 */
public final class Nd4jCpu {
    private Nd4jCpu() {
    }

    public static final class Environment {
        private static final String CPU_ENVIRONMENT = "org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment";
        private static final Environment INSTANCE = new Environment();
        private final Object cpu;
        private final Method isUseOneDnn;

        private Environment() {
            Object instance = null;
            Method method = null;
            try {
                Class<?> environment = Class.forName(CPU_ENVIRONMENT);
                instance = environment.getMethod("getInstance").invoke(null);
                method = environment.getMethod("isUseONEDNN");
            } catch (ReflectiveOperationException | LinkageError e) {
                // Not the CPU backend: no oneDNN.
            }
            cpu = instance;
            isUseOneDnn = method;
        }

        public static Environment getInstance() {
            return INSTANCE;
        }

        /** The one method DL4J calls. */
        public boolean isUseMKLDNN() {
            if (cpu == null) {
                return false;
            }
            try {
                return (boolean) isUseOneDnn.invoke(cpu);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("ND4J's CPU environment failed in isUseONEDNN()", e);
            }
        }
    }
}
