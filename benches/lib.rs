//! Benchmarks for the readiness crates; see `README.md` in this folder. The code is in
//! the `[[bench]]` targets: `cargo bench -p readiness-benches`.
