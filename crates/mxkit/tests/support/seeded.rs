//! The proptest configuration of the robustness tests: a fixed number of cases
//! and a fixed seed (docs/design.md, "Conventions": randomness seeded), each
//! overridden by `PROPTEST_CASES` / `PROPTEST_RNG_SEED` in the environment for
//! a long or differently seeded local run.

use proptest::prelude::ProptestConfig;
use proptest::test_runner::RngSeed;

pub fn config(cases: u32, seed: u64) -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: match std::env::var_os("PROPTEST_CASES") {
            Some(_) => default.cases,
            None => cases,
        },
        rng_seed: match default.rng_seed {
            RngSeed::Random => RngSeed::Fixed(seed),
            fixed => fixed,
        },
        ..default
    }
}
