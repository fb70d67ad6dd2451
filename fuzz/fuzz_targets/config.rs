//! The `--config` file parser as the CLI runs it (`src/bin/supcon/args.rs`,
//! `read_config`: a UTF-8 `.toml` or `.json` file deserialised into the stage's
//! configuration, unknown fields rejected), then the checks each stage makes before it
//! touches data. Never a panic. The first byte picks TOML or JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use supcon::data::DatasetSpec;
use supcon::train::{PretrainConfig, SupervisedConfig};

fn check_pretrain(c: &PretrainConfig) {
    let _ = c.validate();
    let _ = c.data.spec.parse::<DatasetSpec>();
}

fn check_supervised(c: &SupervisedConfig) {
    let _ = c.optimizer.validate();
    let _ = c.schedule.validate(c.epochs);
    let _ = c.augment.validate();
    let _ = c.encoder.validate();
    let _ = c.data.spec.parse::<DatasetSpec>();
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    // `read_config` reads the file with `read_to_string`: non-UTF-8 is an I/O error.
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if kind % 2 == 0 {
        if let Ok(c) = toml::from_str::<PretrainConfig>(text) {
            check_pretrain(&c);
        }
        if let Ok(c) = toml::from_str::<SupervisedConfig>(text) {
            check_supervised(&c);
        }
    } else {
        if let Ok(c) = serde_json::from_str::<PretrainConfig>(text) {
            check_pretrain(&c);
        }
        if let Ok(c) = serde_json::from_str::<SupervisedConfig>(text) {
            check_supervised(&c);
        }
    }
});
