//! One libFuzzer binary per target of `hookline_fuzz::targets` (`fuzz_targets/<name>.rs`,
//! each a [`fuzz_target!`] line). A panic of the parser, or a violated property the target's
//! check reports, is a crash: libFuzzer writes the input and stops.

#[doc(hidden)]
pub use libfuzzer_sys;

/// Runs target `name`'s check on one input; panics (a libFuzzer crash) on a violated
/// property or an unknown target.
pub fn run(name: &str, input: &[u8]) {
    if let Err(why) = hookline_fuzz::targets::check(name, input) {
        panic!("fuzz target {name}: property violated: {why}");
    }
}

/// The libFuzzer entry point of target `$name` (an identifier: the target's name).
#[macro_export]
macro_rules! fuzz_target {
    ($name:ident) => {
        $crate::libfuzzer_sys::fuzz_target!(|data: &[u8]| $crate::run(stringify!($name), data));
    };
}
