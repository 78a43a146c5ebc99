//! A small, seeded source of test cases (xorshift64): the generated-input tests compare our
//! quick readers and writers with the crates they stand in for, the same cases every run.

pub(crate) struct TestRng(u64);

impl TestRng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> TestRng {
        assert_ne!(seed, 0, "xorshift never leaves zero");
        TestRng(seed)
    }

    pub fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
}
