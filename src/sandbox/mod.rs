//! A real OneRoster v1.1 server for the demo, the tests and the benchmarks.
