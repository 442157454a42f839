#![no_main]
hookline_fuzz_libfuzzer::fuzz_target!(accepted_message);
