// `pnpm soak`: src/soak.ts bundled and run like the benchmarks (see bench.mjs).
process.env.EVENTUALI_BENCH_ENTRY = "soak"
await import("./bench.mjs")
