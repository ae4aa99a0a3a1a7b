import { defineConfig } from "vite";

// The bundle goes into the Python package, which the daemon serves at "/" (http/web.py).
// esbuild's own JSX transform: no plugin needed.
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "../mediaforged/http/static",
    emptyOutDir: true,
    target: "es2020",
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: { proxy: { "/api": { target: "http://127.0.0.1:8686", ws: true } } },
});
