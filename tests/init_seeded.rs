//! `DeviceChoice::init_seeded`, alone in its test binary: burn's CPU generator is
//! process-wide, so other tests initialising models on other threads would interleave
//! their draws with this one's.

use supcon::burn::module::Module;
use supcon::burn::tensor::{Device, Tensor};
use supcon::model::{EncoderConfig, EncoderKind};

fn cpu() -> Device {
    Device::flex()
}

/// `DeviceChoice::init_seeded` initialises every parameter at once on the CPU (so the
/// weights depend on the seed only, not on where or when a parameter is first used), and
/// the same seed gives the same weights.
#[test]
fn init_seeded_initialises_every_parameter_from_the_seed() {
    use supcon::burn::module::{ModuleVisitor, Param};
    use supcon::device::DeviceChoice;
    use supcon::train::linear::fingerprint;

    struct Lazy(usize, usize);
    impl ModuleVisitor for Lazy {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += 1;
            self.1 += usize::from(!param.is_initialized());
        }
    }
    let build = |seed: u64| {
        DeviceChoice::Cpu
            .init_seeded(seed, |d| {
                EncoderConfig::new(EncoderKind::ResNetTiny).try_init(d)
            })
            .unwrap()
    };
    let a = build(11);
    let mut lazy = Lazy(0, 0);
    a.visit(&mut lazy);
    assert!(lazy.0 > 10, "{} parameters", lazy.0);
    assert_eq!(lazy.1, 0, "{} of {} parameters still lazy", lazy.1, lazy.0);
    // Without it, a module built on a device is lazy: its parameters would be drawn
    // wherever they are first used.
    let mut plain = Lazy(0, 0);
    EncoderConfig::new(EncoderKind::ResNetTiny)
        .init(&cpu().autodiff())
        .visit(&mut plain);
    assert!(plain.1 > 0, "burn's initialisation is no longer lazy");

    assert_eq!(fingerprint(&a), fingerprint(&build(11)));
    assert_ne!(fingerprint(&a), fingerprint(&build(12)));
}
