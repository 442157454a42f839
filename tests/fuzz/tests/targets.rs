//! The stable runner of the fuzz targets (`hookline_fuzz::targets`, where the checks and
//! their docs live): one `#[test]` per target, each the crate's own deterministic mutational
//! fuzzer with `HOOKLINE_FUZZ_EXECS` executions (20,000 unless set). This is what CI runs;
//! the documented coverage-guided run (`scripts/fuzz.sh`) uses the same table under libFuzzer.

use hookline_fuzz::targets::{self, TARGETS};

/// Fuzzes target `name` with the stable fuzzer; fails on a panic or a violated property.
fn fuzz(name: &str) {
    let t = targets::target(name).unwrap_or_else(|| panic!("no fuzz target called {name}"));
    t.fuzzer().run(t.check).assert_clean();
}

macro_rules! fuzz_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                fuzz(stringify!($name));
            }
        )*

        /// Every target of the table has its `#[test]` here, and no other.
        #[test]
        fn every_target_has_a_test() {
            let tests = [$(stringify!($name)),*];
            let table: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            assert_eq!(tests.to_vec(), table);
        }
    };
}

fuzz_tests!(
    smpp_receipt,
    carrier_dlr,
    accepted_message,
    click,
    inbound,
    conversion_json,
    track_query,
    revocation,
    dispatch_record,
    attempt_record,
    dead_letter,
    event_topics,
    config_record,
    api_telecom23_put,
    api_smsedge_set,
    api_named,
    api_admin_bodies,
    api_query,
    retry_after,
    url_policy,
);
