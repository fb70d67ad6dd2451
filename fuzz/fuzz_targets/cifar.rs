//! The CIFAR-10 and CIFAR-100 binary readers on arbitrary file contents: `Ok` (then a
//! consistent split) or an error naming the file, never a panic.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use supcon::data::{Cifar100Labels, parse_cifar10, parse_cifar100, validate};

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz_batch.bin");
    match parse_cifar10(bytes, path) {
        Ok(ds) => assert!(validate(&ds).is_ok()),
        Err(e) => assert!(e.to_string().contains("fuzz_batch.bin"), "{e}"),
    }
    for labels in [Cifar100Labels::Fine, Cifar100Labels::Coarse] {
        match parse_cifar100(bytes, path, labels) {
            Ok(ds) => assert!(validate(&ds).is_ok()),
            Err(e) => assert!(e.to_string().contains("fuzz_batch.bin"), "{e}"),
        }
    }
});
