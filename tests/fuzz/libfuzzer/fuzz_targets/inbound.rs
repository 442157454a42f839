#![no_main]
hookline_fuzz_libfuzzer::fuzz_target!(inbound);
