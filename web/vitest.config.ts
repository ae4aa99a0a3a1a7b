import { defineConfig } from "vitest/config";

// Component tests (test/*.test.tsx) in jsdom; not among the bundle's inputs (web/stale.py).
// One process, one jsdom for every file: on two busy cores, starting a jsdom per file in
// parallel workers took three times as long as the tests themselves.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.tsx"],
    setupFiles: ["test/setup.ts"],
    pool: "forks",
    poolOptions: { forks: { singleFork: true } },
    isolate: false,
    restoreMocks: true,
    unstubGlobals: true,
  },
});
