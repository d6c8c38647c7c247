package org.nd4j.nativeblas;

/**
 * Compatibility shim, not ND4J's own class. DL4J 1.0.0-M2.1 decides whether to use its oneDNN
 * layer helpers by reflectively calling {@code org.nd4j.nativeblas.Nd4jCpu$Environment.isUseMKLDNN()},
 * a class that moved to {@code org.nd4j.linalg.cpu.nativecpu.bindings} and renamed the method. Without
 * this class the lookup fails silently and every convolution runs the slow built-in path (6.5x slower
 * training, 17x slower inference measured here). We delegate to the real bindings.
 */
public final class Nd4jCpu {
    private Nd4jCpu() {
    }

    public static final class Environment {
        private static final Environment INSTANCE = new Environment();

        private Environment() {
        }

        public static Environment getInstance() {
            return INSTANCE;
        }

        private static org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu.Environment delegate() {
            return org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu.Environment.getInstance();
        }

        public boolean isUseMKLDNN() {
            return delegate().isUseONEDNN();
        }

        public void setUseMKLDNN(boolean use) {
            delegate().setUseONEDNN(use);
        }

        public boolean helpersAllowed() {
            return delegate().helpersAllowed();
        }

        public void allowHelpers(boolean allow) {
            delegate().allowHelpers(allow);
        }
    }
}
