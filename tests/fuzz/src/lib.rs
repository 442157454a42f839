//! Fuzzing of Hookline's parsers: the targets, and a small, dependency-free, deterministic
//! mutational fuzzer that runs them on stable Rust.
//!
//! Every parser that takes outside bytes has a target in [`targets::TARGETS`]: a seed corpus
//! of valid inputs taken from the project's own docs, tests and fixtures ([`seeds`]), and a
//! check that calls the real parsing entry point and returns either a label for the outcome
//! (`ok`, or the typed error's code) or a violated property. Two runners use that table:
//! the coverage-guided libFuzzer project in `libfuzzer/` (nightly; `scripts/fuzz.sh`, the
//! documented run: each input through [`targets::check`], a panic or a violated property is
//! a crash), and this crate's own fuzzer (`tests/targets.rs`, one `#[test]` per target, what
//! CI runs). The stable fuzzer's [`Fuzzer::run`] then
//!
//! 1. runs a fixed set of hostile inputs derived from every seed ([`hostile`]): the seed
//!    itself, JSON nested 10,000 deep, invalid UTF-8 and NUL bytes (raw and `\u0000`),
//!    numbers beyond 64 bits, duplicated keys, an empty and a blank input;
//! 2. until the execution budget is spent, takes a corpus entry and stacks 1–8 mutations on
//!    it ([`Mutator`]: bit flips, interesting bytes, insert/delete/duplicate ranges, splices
//!    and crossovers with other entries, dictionary tokens, huge numbers, invalid UTF-8,
//!    deep nesting, case swaps, truncation), or (one time in 16) generates pure random
//!    bytes. An input whose outcome label was never seen before joins the corpus — a cheap
//!    stand-in for coverage feedback that keeps one input per distinct error path.
//!
//! Each execution runs under [`std::panic::catch_unwind`]. A panic or a violated property is
//! minimised (chunks deleted while it still fails), written to a file and printed as a Rust
//! byte-string literal ready for a regression test; the target then fails. Everything is
//! driven by one seeded RNG (`HOOKLINE_FUZZ_SEED`, default fixed, mixed with the target
//! name), so a run is reproducible; `HOOKLINE_FUZZ_EXECS` sets the executions per target
//! (default [`DEFAULT_EXECS`], small enough for CI in debug; `scripts/fuzz.sh --stable` runs
//! 1,000,000 in release). Each target prints
//! `FIGURES fuzz <target>: N executions, P panics, T s`.

pub mod seeds;
pub mod targets;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Once;
use std::time::Instant;

/// Executions per target when `HOOKLINE_FUZZ_EXECS` is not set (CI, debug build).
pub const DEFAULT_EXECS: u64 = 20_000;
/// Longest input the mutator builds (hostile deep-nesting inputs may be longer).
pub const MAX_LEN: usize = 64 * 1024;
/// Corpus entries kept per target (seeds included).
const MAX_CORPUS: usize = 1024;
/// A target stops after this many distinct failures (they are all reported).
const MAX_FAILURES: usize = 10;

/// What a check says about one input: `Ok(label)` names the outcome (the typed error's code,
/// or `ok`); `Err(why)` is a violated property (a 500, an untyped error, an output that does
/// not re-serialise, ...).
pub type Outcome = Result<String, String>;

/// Executions per target: `HOOKLINE_FUZZ_EXECS`, else [`DEFAULT_EXECS`].
pub fn execs_from_env() -> u64 {
    std::env::var("HOOKLINE_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_EXECS)
}

/// SplitMix64: small, fast, and good enough to drive mutations reproducibly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// FNV-1a, for target-name seeds and artefact file names.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Tokens every target's dictionary holds: JSON structure, escapes, edge-case numbers,
/// form-encoding, control and invalid bytes.
pub const COMMON_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\\udfff\\ud800",
    b"\\\"",
    b"\\n",
    b"null",
    b"true",
    b"false",
    b"0",
    b"-0",
    b"-1",
    b"1e999",
    b"-1e999",
    b"1.7976931348623157e308",
    b"5e-324",
    b"4294967296",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"99999999999999999999999",
    b"0.000000000000000000000000000001",
    b"\"\"",
    b"\"a\":1,\"a\":2",
    b"{}",
    b"[]",
    b"\0",
    b"%",
    b"%00",
    b"%ff",
    b"%C2%85",
    b"%0A",
    b"&",
    b"=",
    b"+",
    b"&&==",
    b"\r\n",
    b"\t",
    b" ",
    b"\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x80\xae",
    b"\xef\xbb\xbf",
    b"\xc2\x85",
    b"\xf0\x9f\x92\xa9",
    b"{placeholder}",
];

/// Bytes the "interesting byte" mutation writes.
const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, 0xc0, 0xfe, b'"', b'\\', b'{', b'}', b'[', b']', b':', b',', b' ', b'\n', b'%', b'&', b'=',
    b'-', b'.', b'0', b'9', b'e', b'E', b'+',
];

const HUGE_NUMBERS: &[&[u8]] = &[
    b"18446744073709551615",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"4294967295",
    b"65535",
    b"65536",
    b"256",
    b"99999999999999999999999",
    b"-99999999999999999999999",
    b"18446744073709551616",
    b"340282366920938463463374607431768211456",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"0.1e99999999999999999999",
    b"4294967296",
    b"-1",
    b"-0.0",
    b"1.5",
];

const INVALID_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xfe\xff",
    b"\x80",
    b"\xc3\x28",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xe2\x82",
];

/// Stacks random mutations on an input.
pub struct Mutator<'a> {
    pub dict: &'a [Vec<u8>],
}

impl Mutator<'_> {
    /// Applies 1–8 mutations (mostly 1–4) to `input`; `others` is the corpus for splices.
    pub fn mutate(&self, rng: &mut Rng, input: &mut Vec<u8>, others: &[Vec<u8>]) {
        let n = if rng.one_in(4) {
            1 + rng.below(8)
        } else {
            1 + rng.below(4)
        };
        for _ in 0..n {
            self.one(rng, input, others);
        }
        if input.len() > MAX_LEN && !looks_deep(input) {
            input.truncate(MAX_LEN);
        }
    }

    fn one(&self, rng: &mut Rng, v: &mut Vec<u8>, others: &[Vec<u8>]) {
        let len = v.len();
        let pos = |rng: &mut Rng| rng.below(len + 1);
        match rng.below(19) {
            // Flip one bit.
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            // An interesting byte.
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = *rng.pick(INTERESTING);
            }
            // A random byte.
            2 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.byte();
            }
            // Delete a range.
            3 if len > 0 => {
                let start = rng.below(len);
                let cap = if rng.one_in(4) { len } else { 16 };
                let n = 1 + rng.below((len - start).min(cap));
                v.drain(start..start + n);
            }
            // Insert random bytes.
            4 => {
                let at = pos(rng);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                v.splice(at..at, bytes);
            }
            // Duplicate a range elsewhere.
            5 if len > 0 => {
                let start = rng.below(len);
                let n = 1 + rng.below((len - start).min(64));
                let chunk = v[start..start + n].to_vec();
                let at = pos(rng);
                v.splice(at..at, chunk);
            }
            // Splice a range of another corpus entry in.
            6 if !others.is_empty() => {
                let other = rng.pick(others);
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - start).min(64));
                    let at = pos(rng);
                    let chunk = other[start..start + n].to_vec();
                    if rng.one_in(2) && at < len {
                        let end = (at + n).min(len);
                        v.splice(at..end, chunk);
                    } else {
                        v.splice(at..at, chunk);
                    }
                }
            }
            // Crossover: our head, another entry's tail.
            7 if !others.is_empty() => {
                let other = rng.pick(others);
                let cut = pos(rng);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            // Insert a dictionary token.
            8 | 9 if !self.dict.is_empty() => {
                let tok = rng.pick(self.dict).clone();
                let at = pos(rng);
                v.splice(at..at, tok);
            }
            // Replace a range with a dictionary token.
            10 if !self.dict.is_empty() && len > 0 => {
                let tok = rng.pick(self.dict).clone();
                let start = rng.below(len);
                let end = (start + 1 + rng.below(8)).min(len);
                v.splice(start..end, tok);
            }
            // Replace a run of digits with a huge, boundary or odd number (twice as likely:
            // numbers are where the JSON inputs' edge cases are).
            11 | 17 | 18 => {
                let digits: Vec<usize> = (0..len).filter(|&i| v[i].is_ascii_digit()).collect();
                let num = rng.pick(HUGE_NUMBERS).to_vec();
                if digits.is_empty() {
                    let at = pos(rng);
                    v.splice(at..at, num);
                } else {
                    let start = *rng.pick(&digits);
                    let end = (start..len).find(|&i| !v[i].is_ascii_digit()).unwrap_or(len);
                    v.splice(start..end, num);
                }
            }
            // Invalid UTF-8.
            12 => {
                let at = pos(rng);
                v.splice(at..at, rng.pick(INVALID_UTF8).to_vec());
            }
            // Truncate.
            13 if len > 0 => v.truncate(rng.below(len)),
            // Swap the ASCII case of a range.
            14 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                for b in &mut v[start..end] {
                    if b.is_ascii_alphabetic() {
                        *b ^= 0x20;
                    }
                }
            }
            // Deep nesting, rarely (the inputs are long).
            15 if rng.one_in(16) => {
                let depth = *rng.pick(&[64usize, 129, 1_000, 10_000]);
                let at = pos(rng);
                let (open, close): (&[u8], &[u8]) = match rng.below(3) {
                    0 => (b"[", b"]"),
                    1 => (b"{\"a\":", b"}"),
                    _ => (b"[{\"a\":", b"}]"),
                };
                v.splice(at..at, open.repeat(depth));
                if rng.one_in(2) {
                    v.extend_from_slice(&close.repeat(depth));
                }
            }
            // Repeat the whole input (duplicate keys, repeated parameters).
            16 if len > 0 && len < MAX_LEN / 2 => {
                let copy = v.clone();
                const SEPARATORS: &[&[u8]] = &[b",", b"&", b" ", b""];
                let sep = *rng.pick(SEPARATORS);
                v.extend_from_slice(sep);
                v.extend_from_slice(&copy);
            }
            _ => {
                let at = pos(rng);
                v.insert(at, *rng.pick(INTERESTING));
            }
        }
    }
}

fn looks_deep(v: &[u8]) -> bool {
    v.len() > MAX_LEN && v.iter().take(64).all(|b| b"[{\"a:".contains(b))
}

/// The hostile inputs every target runs first, derived from each seed: the seed itself,
/// NUL bytes (raw and `\u0000`), invalid UTF-8, every number beyond 64 bits, duplicated keys,
/// JSON nested 10,000 deep (around the seed and on its own), an empty and a blank input.
pub fn hostile(seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![
        vec![],
        b"   \n\t ".to_vec(),
        b"[".repeat(10_000),
        [b"[".repeat(10_000), b"]".repeat(10_000)].concat(),
        [b"{\"a\":".repeat(10_000), b"1".to_vec(), b"}".repeat(10_000)].concat(),
        b"\0".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        b"99999999999999999999999".to_vec(),
        b"{\"a\":99999999999999999999999}".to_vec(),
        b"{\"a\":1,\"a\":1}".to_vec(),
    ];
    for s in seeds {
        out.push(s.clone());
        let mid = s.len() / 2;
        // A raw NUL and raw invalid UTF-8 in the middle, and inside the first string value.
        for bad in [&b"\0"[..], b"\xff", b"\xed\xa0\x80", b"\xc3\x28"] {
            let mut v = s.clone();
            v.splice(mid..mid, bad.to_vec());
            out.push(v);
            if let Some(q) = first_value_quote(s) {
                let mut v = s.clone();
                v.splice(q + 1..q + 1, bad.to_vec());
                out.push(v);
            }
        }
        // An escaped NUL and a lone surrogate inside the first string value.
        if let Some(q) = first_value_quote(s) {
            for esc in [&b"\\u0000"[..], b"\\ud800", b"%00"] {
                let mut v = s.clone();
                v.splice(q + 1..q + 1, esc.to_vec());
                out.push(v);
            }
        }
        // Every number beyond 64 bits (and beyond f64).
        for huge in [&b"99999999999999999999999"[..], b"-99999999999999999999999", b"1e400"] {
            out.push(replace_digit_runs(s, huge));
        }
        // Duplicate keys: the object's members twice.
        let t = s.trim_ascii();
        if t.len() > 2 && t.starts_with(b"{") && t.ends_with(b"}") {
            let inner = &t[1..t.len() - 1];
            out.push([&b"{"[..], inner, b",", inner, b"}"].concat());
        } else if !t.is_empty() {
            // Repeated parameters / keys in text formats.
            out.push([t, b"&", t].concat());
            out.push([t, b" ", t].concat());
        }
        // The seed nested 10,000 deep, as an array element and as an object value.
        out.push([b"[".repeat(10_000), s.clone(), b"]".repeat(10_000)].concat());
        out.push([b"{\"a\":".repeat(10_000), s.clone(), b"}".repeat(10_000)].concat());
    }
    out
}

/// Index of the opening quote of the first JSON string value (after `":`), if any.
fn first_value_quote(s: &[u8]) -> Option<usize> {
    s.windows(3)
        .position(|w| w == b"\":\"")
        .map(|i| i + 2)
        .or_else(|| s.windows(4).position(|w| w == b"\": \"").map(|i| i + 3))
}

fn replace_digit_runs(s: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 32);
    let mut i = 0;
    while i < s.len() {
        if s[i].is_ascii_digit() {
            while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'.') {
                i += 1;
            }
            out.extend_from_slice(with);
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Quoted JSON strings of the seeds (keys and values, with their quotes) as dictionary
/// tokens: the field names and enum values a parser looks for.
pub fn tokens_of(seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![];
    for s in seeds {
        let mut i = 0;
        while i < s.len() {
            if s[i] == b'"' {
                if let Some(n) = s[i + 1..].iter().position(|&b| b == b'"') {
                    let tok = s[i..i + n + 2].to_vec();
                    if tok.len() <= 40 && !out.contains(&tok) {
                        out.push(tok);
                    }
                    i += n + 2;
                    continue;
                }
            }
            i += 1;
        }
    }
    out
}

/// Reduces a description to a bounded label (the corpus keeps one input per label): cut at
/// serde_json's position suffix, quoted parts (with their escapes) and everything but ASCII
/// letters, spaces and a few separators dropped, at most 60 characters.
pub fn label(s: &str) -> String {
    let s = s.split(" at line ").next().unwrap_or(s);
    // serde quotes these names in backticks without escaping them: keep the kind only.
    for kind in ["unknown variant", "unknown field", "duplicate field", "missing field"] {
        if let Some(at) = s.find(kind) {
            return format!("{}{kind}", label(&s[..at]));
        }
    }
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => {
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '`' || c == '"' => {
                out.push(c);
                quote = Some(c);
            }
            None if c.is_ascii_alphabetic() || matches!(c, ' ' | ':' | '_' | '|' | ',') => out.push(c),
            None => {}
        }
        if out.len() >= 60 {
            break;
        }
    }
    out
}

/// The result of fuzzing one target.
#[derive(Debug)]
pub struct Report {
    pub target: String,
    pub executions: u64,
    pub panics: usize,
    pub violations: usize,
    pub corpus: usize,
    pub labels: usize,
    pub seconds: f64,
    pub failures: Vec<String>,
}

impl Report {
    /// Prints the figures line and fails (panics) when an input panicked or broke a property.
    pub fn assert_clean(&self) {
        println!(
            "FIGURES fuzz {}: {} executions, {} panics, {:.1} s ({} property violations, {} distinct outcomes, corpus {})",
            self.target, self.executions, self.panics, self.seconds, self.violations, self.labels, self.corpus
        );
        assert!(
            self.failures.is_empty(),
            "fuzz target {} failed:\n{}",
            self.target,
            self.failures.join("\n")
        );
    }
}

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that, on a thread that is fuzzing, records the message instead of printing
/// it (thousands of expected-to-be-caught panics would drown the output); other threads get
/// the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

enum Failure {
    Panic(String),
    Violation(String),
}

/// Runs `check` once, turning a panic into [`Failure::Panic`].
fn execute(check: &mut dyn FnMut(&[u8]) -> Outcome, input: &[u8]) -> Result<String, Failure> {
    CAPTURING.with(|c| c.set(true));
    let r = panic::catch_unwind(AssertUnwindSafe(|| check(input)));
    CAPTURING.with(|c| c.set(false));
    match r {
        Ok(Ok(label)) => Ok(label),
        Ok(Err(why)) => Err(Failure::Violation(why)),
        Err(_) => Err(Failure::Panic(
            LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "panic".into()),
        )),
    }
}

/// Deletes chunks of a failing input while it keeps failing the same way (panic or
/// violation), so the regression test gets a small input.
fn minimise(check: &mut dyn FnMut(&[u8]) -> Outcome, input: &[u8], panicked: bool) -> Vec<u8> {
    let still_fails = |check: &mut dyn FnMut(&[u8]) -> Outcome, v: &[u8]| {
        matches!(
            (execute(check, v), panicked),
            (Err(Failure::Panic(_)), true) | (Err(Failure::Violation(_)), false)
        )
    };
    let mut best = input.to_vec();
    let mut budget = 4_000usize;
    let mut chunk = best.len().div_ceil(2).max(1);
    loop {
        let mut i = 0;
        while i < best.len() && budget > 0 {
            budget -= 1;
            let mut candidate = best.clone();
            candidate.drain(i..(i + chunk).min(best.len()));
            if still_fails(check, &candidate) {
                best = candidate;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 || budget == 0 {
            return best;
        }
        chunk = chunk.div_ceil(2);
    }
}

/// Where failing inputs are written: `HOOKLINE_FUZZ_ARTIFACTS`, else `<tmp>/hookline-fuzz`.
pub fn artifact_dir() -> PathBuf {
    std::env::var_os("HOOKLINE_FUZZ_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("hookline-fuzz"))
}

/// One target's fuzzing set-up.
pub struct Fuzzer {
    name: String,
    seeds: Vec<Vec<u8>>,
    dict: Vec<Vec<u8>>,
    execs: u64,
    rng_seed: u64,
}

impl Fuzzer {
    /// A target with its seed corpus; the dictionary starts as [`COMMON_DICT`] plus every
    /// quoted string of the seeds.
    pub fn new(name: &str, seeds: Vec<Vec<u8>>) -> Self {
        assert!(!seeds.is_empty(), "fuzz target {name} has no seeds");
        let mut dict: Vec<Vec<u8>> = COMMON_DICT.iter().map(|t| t.to_vec()).collect();
        dict.extend(tokens_of(&seeds));
        let base = std::env::var("HOOKLINE_FUZZ_SEED")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0x686f_6f6b_6c69_6e65);
        Self {
            name: name.to_string(),
            seeds,
            dict,
            execs: execs_from_env(),
            rng_seed: base ^ fnv(name.as_bytes()),
        }
    }

    /// More dictionary tokens (keys of a text format, enum values, ...).
    pub fn dict(mut self, tokens: &[&[u8]]) -> Self {
        self.dict.extend(tokens.iter().map(|t| t.to_vec()));
        self
    }

    /// The seed corpus.
    pub fn seeds(&self) -> &[Vec<u8>] {
        &self.seeds
    }

    /// The dictionary: [`COMMON_DICT`], the seeds' quoted strings, the target's own tokens.
    pub fn dictionary(&self) -> &[Vec<u8>] {
        &self.dict
    }

    /// Overrides the execution budget (tests of the fuzzer itself).
    pub fn execs(mut self, n: u64) -> Self {
        self.execs = n;
        self
    }

    /// Runs the hostile inputs, then mutated and random ones, until the budget is spent or
    /// [`MAX_FAILURES`] failures were found.
    pub fn run(self, mut check: impl FnMut(&[u8]) -> Outcome) -> Report {
        install_panic_hook();
        let check: &mut dyn FnMut(&[u8]) -> Outcome = &mut check;
        let started = Instant::now();
        let mut rng = Rng::new(self.rng_seed);
        let mut corpus: Vec<Vec<u8>> = self.seeds.clone();
        let mut labels: HashSet<String> = HashSet::new();
        let mut failures: Vec<String> = vec![];
        let mut seen_failures: HashSet<String> = HashSet::new();
        let (mut executions, mut panics, mut violations) = (0u64, 0usize, 0usize);
        let mutator = Mutator { dict: &self.dict };
        let fixed = hostile(&self.seeds);
        let mut fixed_iter = fixed.into_iter();
        let show_labels = std::env::var_os("HOOKLINE_FUZZ_SHOW_OUTCOMES").is_some();

        while failures.len() < MAX_FAILURES {
            let input = match fixed_iter.next() {
                Some(i) => i,
                None if executions >= self.execs => break,
                None if rng.one_in(16) => random_input(&mut rng),
                None => {
                    let mut v = rng.pick(&corpus).clone();
                    mutator.mutate(&mut rng, &mut v, &corpus);
                    v
                }
            };
            executions += 1;
            match execute(check, &input) {
                Ok(outcome) => {
                    let l = label(&outcome);
                    if show_labels && !labels.contains(&l) {
                        println!("fuzz {} outcome: {l}", self.name);
                    }
                    if labels.insert(l) && input.len() <= MAX_LEN {
                        if corpus.len() < MAX_CORPUS {
                            corpus.push(input);
                        } else {
                            let i = self.seeds.len() + rng.below(MAX_CORPUS - self.seeds.len());
                            corpus[i] = input;
                        }
                    }
                }
                Err(f) => {
                    let (kind, why, panicked) = match f {
                        Failure::Panic(m) => ("panic", m, true),
                        Failure::Violation(m) => ("property violation", m, false),
                    };
                    // One report per distinct message (a panic at one place found again).
                    if !seen_failures.insert(label(&why)) {
                        continue;
                    }
                    if panicked {
                        panics += 1;
                    } else {
                        violations += 1;
                    }
                    let small = minimise(check, &input, panicked);
                    failures.push(self.record(kind, &why, &small));
                }
            }
        }
        Report {
            target: self.name,
            executions,
            panics,
            violations,
            corpus: corpus.len(),
            labels: labels.len(),
            seconds: started.elapsed().as_secs_f64(),
            failures,
        }
    }

    /// Writes a failing input to the artefact directory and describes it.
    fn record(&self, kind: &str, why: &str, input: &[u8]) -> String {
        let dir = artifact_dir();
        let path = dir.join(format!("{}-{:016x}.bin", self.name, fnv(input)));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, input))
            .map(|()| path.display().to_string())
            .unwrap_or_else(|e| format!("(not written: {e})"));
        let mut literal = input.escape_ascii().to_string();
        if literal.len() > 4_000 {
            literal.truncate(4_000);
            literal.push_str("...");
        }
        format!(
            "{kind} in target {}: {why}\n  input ({} bytes, minimised): b\"{literal}\"\n  written to {written}",
            self.name,
            input.len()
        )
    }
}

/// Pure random bytes, half the time from a JSON/form-ish alphabet.
fn random_input(rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"{}[]\":,0123456789.-+eE truefalsn\\u%&=abcdxyz:/?#@\0\xff\xc3";
    let max = if rng.one_in(8) { 4096 } else { 256 };
    let n = rng.below(max);
    let structured = rng.one_in(2);
    (0..n)
        .map(|_| if structured { *rng.pick(ALPHABET) } else { rng.byte() })
        .collect()
}

/// Polls a future that must complete without waiting (no I/O is reachable in the checks: URL
/// checks that would resolve a host name are kept away, see the API targets). `Err` if it
/// would wait.
pub fn ready<F: std::future::Future>(f: F) -> Result<F::Output, String> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Ok(v),
        std::task::Poll::Pending => Err("the parser's future waited (I/O reached?)".into()),
    }
}

/// `a` and `b` equal as JSON, numbers within a relative 1e-12 (serde_json's float parsing
/// is not guaranteed to round-trip to the last bit without its `float_roundtrip` feature).
pub fn json_approx_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            _ if x == y => true,
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_approx_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_approx_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The property every accepted record must have: it serialises, the bytes decode as the same
/// type, and the decoded value is the same (numbers within [`json_approx_eq`]).
pub fn round_trips<T>(value: &T) -> Result<(), String>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let bytes = serde_json::to_vec(value).map_err(|e| format!("accepted value does not serialise: {e}"))?;
    let back: T = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "accepted value does not decode after serialising: {e}: {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    let (a, b) = (
        serde_json::to_value(value).map_err(|e| e.to_string())?,
        serde_json::to_value(&back).map_err(|e| e.to_string())?,
    );
    if json_approx_eq(&a, &b) {
        Ok(())
    } else {
        Err(format!("accepted value changes when re-serialised: {a} became {b}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_deterministic_and_count_executions() {
        let seeds = vec![br#"{"a":"b","n":1}"#.to_vec()];
        let collect = || {
            let mut seen = vec![];
            let r = Fuzzer::new("determinism", seeds.clone()).execs(500).run(|i| {
                seen.push(fnv(i));
                Ok(format!("{}", i.len() % 7))
            });
            (r.executions, seen)
        };
        let (n1, a) = collect();
        let (n2, b) = collect();
        assert_eq!((n1, n2), (500, 500));
        assert_eq!(a, b);
    }

    #[test]
    fn panics_and_violations_are_caught_minimised_and_reported() {
        let seeds = vec![b"hello world".to_vec()];
        let dir = std::env::temp_dir().join("hookline-fuzz-selftest");
        std::env::set_var("HOOKLINE_FUZZ_ARTIFACTS", &dir);
        let r = Fuzzer::new("selftest", seeds).execs(2_000).run(|i| {
            if i.contains(&0xff) {
                panic!("boom");
            }
            if i.len() > 30 {
                return Err("too long".into());
            }
            Ok("ok".into())
        });
        assert_eq!((r.panics, r.violations), (1, 1), "{:?}", r.failures);
        assert!(
            r.failures
                .iter()
                .any(|f| f.contains("boom") && f.contains("b\"\\xff\"")),
            "{:?}",
            r.failures
        );
        assert!(std::fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("selftest-")));
    }

    #[test]
    fn hostile_inputs_cover_the_campaign_list() {
        let h = hostile(&[br#"{"n":12,"s":"x"}"#.to_vec()]);
        let has = |p: &[u8]| h.iter().any(|i| i.windows(p.len()).any(|w| w == p));
        assert!(has(&b"[".repeat(10_000)));
        assert!(has(b"\"n\":99999999999999999999999"));
        assert!(has(br#"{"n":12,"s":"x","n":12,"s":"x"}"#));
        assert!(has(b"\0") && has(b"\\u0000") && has(b"\xff"));
        assert_eq!(label("missing field `x` at line 1 column 20"), "missing field");
        assert_eq!(
            label("bad: unknown variant `a`b`, expected `c`"),
            "bad: unknown variant"
        );
        assert_eq!(
            label(r#"BadDate { field: "a\"b", value: "9" }"#),
            r#"BadDate  field: "", value: "" "#
        );
    }
}
