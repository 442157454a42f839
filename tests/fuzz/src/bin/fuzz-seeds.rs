//! Writes every fuzz target's starting corpus and dictionary for libFuzzer
//! (`scripts/fuzz.sh`): `DIR/<target>/seed-<hash>` for each seed and each hostile input the
//! stable fuzzer derives from the seeds (`hookline_fuzz::hostile`), and `DIR/<target>.dict`
//! in libFuzzer's dictionary format (the stable fuzzer's dictionary). Files already there
//! (inputs libFuzzer added to the corpus) are kept.
//!
//!   fuzz-seeds DIR [TARGET...]     every target, or those named
//!   fuzz-seeds --list              the targets' names, one a line

use hookline_fuzz::targets::TARGETS;
use hookline_fuzz::{fnv, hostile};
use std::path::PathBuf;

/// libFuzzer keeps dictionary entries up to this long.
const MAX_DICT_ENTRY: usize = 64;

/// One dictionary line: `"…"` with `\`, `"` and every byte outside printable ASCII escaped.
fn dict_line(token: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in token {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02X}")),
        }
    }
    out.push('"');
    out
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for t in TARGETS {
            println!("{}", t.name);
        }
        return Ok(());
    }
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: fuzz-seeds DIR [TARGET...] | fuzz-seeds --list");
        std::process::exit(2);
    };
    let wanted = &args[1..];
    for name in wanted {
        if !TARGETS.iter().any(|t| t.name == name) {
            eprintln!("fuzz-seeds: no fuzz target called {name}");
            std::process::exit(2);
        }
    }
    for t in TARGETS
        .iter()
        .filter(|t| wanted.is_empty() || wanted.iter().any(|w| w == t.name))
    {
        let fuzzer = t.fuzzer();
        let corpus = dir.join(t.name);
        std::fs::create_dir_all(&corpus)?;
        let mut inputs = fuzzer.seeds().to_vec();
        inputs.extend(hostile(fuzzer.seeds()));
        for input in &inputs {
            std::fs::write(corpus.join(format!("seed-{:016x}", fnv(input))), input)?;
        }
        let mut dict = String::new();
        for token in fuzzer.dictionary() {
            if !token.is_empty() && token.len() <= MAX_DICT_ENTRY {
                dict.push_str(&dict_line(token));
                dict.push('\n');
            }
        }
        std::fs::write(dir.join(format!("{}.dict", t.name)), dict)?;
        println!(
            "fuzz-seeds {}: {} inputs, {} dictionary tokens",
            t.name,
            inputs.len(),
            fuzzer.dictionary().len()
        );
    }
    Ok(())
}
