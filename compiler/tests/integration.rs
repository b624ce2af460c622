//! The one integration-test binary of the compiler: runs the checker and the real CLI on
//! `testdata/`.

mod integration {
    pub mod accept;
    pub mod cli;
    pub mod cli_run;
    pub mod detectors;
    pub mod diff;
    pub mod differential;
    pub mod docs;
    pub mod fuzz_corpus;
    pub mod hostile;
    pub mod lower;
    pub mod policy_test;
    pub mod properties;
    pub mod roundtrip;
    pub mod selection;
    pub mod snapshots;
}
