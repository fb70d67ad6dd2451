//! The one place where a device name from the command line becomes a burn [`Device`].
//!
//! Every command takes `--device NAME`; only this module knows which backends the binary
//! was built with:
//!
//! | name | device | build |
//! | --- | --- | --- |
//! | `cpu` (alias `flex`) | burn's `flex` CPU backend | always |
//! | `gpu`, `gpu:N` (aliases `vulkan`, `vulkan:N`) | discrete GPU number `N` (default 0) through burn's Vulkan (wgpu) backend | cargo feature `gpu` |
//!
//! Without the `gpu` feature the GPU names parse to [`DeviceError::NoGpuSupport`], which
//! says how to rebuild; the default build compiles no GPU backend at all.
//!
//! `SUPCON_VULKAN_ADAPTER=integrated` (or `virtual`, `cpu`) makes `gpu:N` the N-th Vulkan
//! adapter of that type instead of the N-th discrete GPU: a laptop's integrated GPU, or a
//! software Vulkan driver such as Mesa's lavapipe (`scripts/lavapipe-check.sh` runs the
//! GPU path that way, on a CPU).
//!
//! A choice is saved in configurations as its name (`"cpu"`, `"gpu:0"`). A build without
//! the `gpu` feature reads a saved GPU name as `cpu`, with a warning on stderr, so that runs
//! trained on a GPU can be evaluated, probed and used for inference anywhere; on the command
//! line (`--device gpu`) the same build refuses the name instead.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A device choice, parsed from `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// burn's `flex` CPU backend (multi-threaded with rayon, SIMD kernels).
    #[default]
    Cpu,
    /// Discrete GPU number `N` (counting discrete GPUs only, from 0), through burn's
    /// Vulkan backend (wgpu, SPIR-V kernels). Needs the `gpu` cargo feature.
    #[cfg(feature = "gpu")]
    Gpu(usize),
}

/// A device name that was not understood or is not available in this build.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The name is not a known device.
    #[error("unknown device '{0}': expected 'cpu' or 'gpu[:N]'")]
    Unknown(String),
    /// A GPU was asked for, but the binary has no GPU backend.
    #[error("device '{0}': this binary was built without GPU support: rebuild with --features gpu")]
    NoGpuSupport(String),
    /// `gpu:N` with something other than a non-negative integer after the colon.
    #[error("device '{0}': expected 'gpu:N' with N a GPU number (0, 1, ...)")]
    BadIndex(String),
    /// The device exists in this build but could not be started (no driver, no such GPU).
    #[error("device '{name}' could not be started: {message}")]
    Unavailable {
        /// The device, as [`DeviceChoice`] prints it.
        name: String,
        /// What the backend said.
        message: String,
    },
}

/// Splits `gpu`, `gpu:N`, `vulkan`, `vulkan:N` into their index; `None` for other names.
fn gpu_index(name: &str) -> Option<Result<usize, ()>> {
    let rest = name
        .strip_prefix("gpu")
        .or_else(|| name.strip_prefix("vulkan"))?;
    match rest {
        "" => Some(Ok(0)),
        _ => {
            let digits = rest.strip_prefix(':')?;
            Some(digits.parse::<usize>().map_err(|_| ()))
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        match name.as_str() {
            "cpu" | "flex" => return Ok(Self::Cpu),
            _ => {}
        }
        match gpu_index(&name) {
            None => Err(DeviceError::Unknown(s.to_string())),
            Some(Err(())) => Err(DeviceError::BadIndex(s.to_string())),
            #[cfg(feature = "gpu")]
            Some(Ok(index)) => Ok(Self::Gpu(index)),
            #[cfg(not(feature = "gpu"))]
            Some(Ok(_)) => Err(DeviceError::NoGpuSupport(s.to_string())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            #[cfg(feature = "gpu")]
            Self::Gpu(index) => write!(f, "gpu:{index}"),
        }
    }
}

/// Saved as its name, so that `"cpu"` written by earlier versions still reads back.
/// See the module documentation for GPU names read by a CPU-only build.
impl serde::Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.parse() {
            Ok(choice) => Ok(choice),
            #[cfg(not(feature = "gpu"))]
            Err(DeviceError::NoGpuSupport(_)) => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    eprintln!(
                        "warning: a saved configuration names device '{name}', but this binary \
                         was built without GPU support (rebuild with --features gpu): using the CPU"
                    );
                });
                Ok(Self::Cpu)
            }
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

/// The Vulkan adapter behind `gpu:index`: the index-th discrete GPU, or the index-th adapter
/// of the type named by `SUPCON_VULKAN_ADAPTER` (module documentation).
#[cfg(feature = "gpu")]
fn vulkan_kind(index: usize) -> burn::tensor::DeviceKind {
    use burn::tensor::DeviceKind;
    match std::env::var("SUPCON_VULKAN_ADAPTER")
        .as_deref()
        .map(str::trim)
    {
        Ok("cpu") => DeviceKind::Cpu,
        Ok("integrated") => DeviceKind::IntegratedGpu(index),
        Ok("virtual") => DeviceKind::VirtualGpu(index),
        _ => DeviceKind::DiscreteGpu(index),
    }
}

/// The message of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the backend panicked".to_string())
}

/// Device memory held by burn's allocator, in bytes (see [`DeviceChoice::memory_usage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Bytes of live tensors (excluding padding).
    pub in_use: u64,
    /// Bytes the allocator holds on the device: live tensors plus pages kept for reuse.
    pub reserved: u64,
}

impl MemoryUsage {
    /// The larger of each field.
    pub fn max(self, other: Self) -> Self {
        Self {
            in_use: self.in_use.max(other.in_use),
            reserved: self.reserved.max(other.reserved),
        }
    }
}

impl DeviceChoice {
    /// Whether this binary was built with the `gpu` feature.
    pub const GPU_SUPPORT: bool = cfg!(feature = "gpu");

    /// Whether this is a GPU.
    pub fn is_gpu(self) -> bool {
        !matches!(self, Self::Cpu)
    }

    /// The burn device for inference (no autodiff).
    pub fn device(self) -> Device {
        match self {
            Self::Cpu => Device::flex(),
            #[cfg(feature = "gpu")]
            Self::Gpu(index) => Device::vulkan(vulkan_kind(index)),
        }
    }

    /// The burn device with autodiff enabled, for training.
    pub fn autodiff_device(self) -> Device {
        self.device().autodiff()
    }

    /// Builds a freshly initialised module for training on this choice's autodiff device,
    /// with the same initial weights whatever the device: the CPU's generator is seeded
    /// with `seed`, `init` builds the module on the CPU, every parameter is initialised
    /// there (in the module's visiting order), and a module built by `init` on the device
    /// is loaded with those values (so `init` runs twice for a GPU). burn
    /// draws initial weights from each device's own generator, lazily, on the device a
    /// parameter is first used on, so building on a GPU (or moving a module not yet
    /// initialised) would give other weights than the CPU for the same seed. The device's
    /// own generator is seeded with `seed` too. Concurrent calls are serialised; other
    /// draws from the CPU's generator on other threads at the same time (a module built
    /// directly with `init`) would still interleave with this one's.
    ///
    /// # Errors
    /// Whatever `init` returns.
    pub fn init_seeded<M, E>(
        self,
        seed: u64,
        init: impl Fn(&Device) -> Result<M, E>,
    ) -> Result<M, E>
    where
        M: burn::module::Module,
    {
        struct Materialise;
        impl burn::module::ModuleVisitor for Materialise {
            fn visit_float<const D: usize>(
                &mut self,
                param: &burn::module::Param<burn::tensor::Tensor<D>>,
            ) {
                // The first access runs a lazy parameter's initialiser.
                let _ = param.val();
            }
        }
        // The CPU's generator is process-wide: two initialisations at once (threads of a
        // library user) would interleave their draws.
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = INIT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let host = Self::Cpu.autodiff_device();
        host.seed(seed);
        let module = init(&host)?;
        module.visit(&mut Materialise);
        drop(guard);
        if !self.is_gpu() {
            return Ok(module);
        }
        // Built again on the device, its parameters still lazy, then loaded with the host's
        // values: loading never runs an initialiser, and each parameter becomes a fresh
        // leaf of the device's autodiff graph (moving the host's tracked parameters would
        // tie them to the host's graph).
        let device = self.autodiff_device();
        device.seed(seed);
        Ok(init(&device)?.load_record(module.into_record()))
    }

    /// Starts the device and runs one tiny operation on it, turning a backend that cannot
    /// start (no Vulkan driver, no such GPU) into an error instead of a panic deep inside
    /// the first tensor operation. Cheap on the CPU. Call it once, early: while it runs,
    /// panics (of any thread) are recorded instead of printed, so that the error carries
    /// the backend's own reason.
    pub fn check(self) -> Result<(), DeviceError> {
        if !self.is_gpu() {
            return Ok(());
        }
        use std::sync::{Arc, Mutex};
        let first: Arc<Mutex<Option<String>>> = Arc::default();
        let previous = std::panic::take_hook();
        let record = Arc::clone(&first);
        std::panic::set_hook(Box::new(move |info| {
            let mut slot = record.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(panic_text(info.payload()));
            }
        }));
        let probe = std::panic::catch_unwind(move || {
            let device = self.device();
            let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
            x.sum().into_scalar::<f32>()
        });
        drop(std::panic::take_hook());
        std::panic::set_hook(previous);
        let unavailable = |message: String| DeviceError::Unavailable {
            name: self.to_string(),
            message,
        };
        match probe {
            Ok(3.0) => Ok(()),
            Ok(v) => Err(unavailable(format!("a probe sum gave {v} instead of 3"))),
            Err(payload) => {
                // The backend's device thread usually panics first, with the reason; the
                // caller's thread then only sees a closed channel.
                let reason = first
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .unwrap_or_else(|| panic_text(payload.as_ref()));
                Err(unavailable(format!(
                    "{reason} (a Vulkan loader, libvulkan.so.1, and the GPU driver's Vulkan \
                     manifest must be installed; see the README)"
                )))
            }
        }
    }

    /// A human-readable name: `cpu`, or the GPU's own name (`gpu:0 (NVIDIA H200)`) once
    /// the device has started. Starts the device.
    pub fn describe(self) -> String {
        match self {
            Self::Cpu => "cpu".to_string(),
            #[cfg(feature = "gpu")]
            Self::Gpu(_) => match self.device().identity() {
                Some(id) => format!("{self} ({}, vulkan)", id.name),
                None => format!("{self} (vulkan)"),
            },
        }
    }

    /// What burn's allocator holds on `device` right now; `None` on a backend that does not
    /// report it (the CPU backend). Call after [`Device::sync`] for settled figures.
    pub fn memory_usage(device: &Device) -> Option<MemoryUsage> {
        device.memory_pool_usage().map(|u| MemoryUsage {
            in_use: u.bytes_in_use,
            reserved: u.bytes_reserved,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_names_and_rejects_others() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        let err = "tpu".parse::<DeviceChoice>().unwrap_err();
        assert!(err.to_string().contains("'tpu'"), "{err}");
    }

    #[test]
    fn aliases_and_whitespace() {
        assert_eq!(" flex ".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        for bad in ["", "cuda", "gpux", "cpu:0", "gpu0", "vulkan-1"] {
            let err = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(matches!(err, DeviceError::Unknown(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_gpu_index_is_reported_in_every_build() {
        for bad in ["gpu:", "gpu:x", "gpu:-1", "vulkan:1.5"] {
            let err = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(matches!(err, DeviceError::BadIndex(_)), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn cpu_round_trips_through_display_and_serde() {
        let cpu = DeviceChoice::Cpu;
        assert_eq!(cpu.to_string(), "cpu");
        assert_eq!(cpu.to_string().parse::<DeviceChoice>().unwrap(), cpu);
        assert_eq!(serde_json::to_string(&cpu).unwrap(), "\"cpu\"");
        let back: DeviceChoice = serde_json::from_str("\"cpu\"").unwrap();
        assert_eq!(back, cpu);
        // Configurations are TOML too.
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Holder {
            device: DeviceChoice,
        }
        let text = toml::to_string(&Holder { device: cpu }).unwrap();
        assert_eq!(text.trim(), "device = \"cpu\"");
        let back: Holder = toml::from_str("device = \"CPU\"").unwrap();
        assert_eq!(back.device, cpu);
        let err = serde_json::from_str::<DeviceChoice>("\"tpu\"").unwrap_err();
        assert!(err.to_string().contains("unknown device 'tpu'"), "{err}");
        assert!(serde_json::from_str::<DeviceChoice>("3").is_err());
    }

    #[test]
    fn cpu_is_always_available() {
        let cpu = DeviceChoice::Cpu;
        assert!(!cpu.is_gpu());
        assert!(cpu.check().is_ok());
        assert_eq!(cpu.describe(), "cpu");
        let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &cpu.device());
        assert_eq!(x.sum().into_scalar::<f32>(), 3.0);
        assert!(cpu.autodiff_device().is_autodiff());
    }

    #[cfg(not(feature = "gpu"))]
    #[test]
    fn gpu_names_without_the_feature_say_how_to_rebuild() {
        const { assert!(!DeviceChoice::GPU_SUPPORT) };
        for name in ["gpu", "GPU", "gpu:0", "gpu:3", "vulkan", "vulkan:1"] {
            let err = name.parse::<DeviceChoice>().unwrap_err();
            assert!(matches!(err, DeviceError::NoGpuSupport(_)), "{name}: {err}");
            let msg = err.to_string();
            assert!(msg.contains("built without GPU support"), "{msg}");
            assert!(msg.contains("--features gpu"), "{msg}");
        }
        // A configuration saved by a GPU build reads back as the CPU (with a warning), so
        // GPU-trained runs stay usable; a malformed name is still an error.
        let back: DeviceChoice = serde_json::from_str("\"gpu:0\"").unwrap();
        assert_eq!(back, DeviceChoice::Cpu);
        let err = serde_json::from_str::<DeviceChoice>("\"gpu:x\"").unwrap_err();
        assert!(err.to_string().contains("gpu:N"), "{err}");
    }

    // Parsing and naming only: nothing here starts a GPU, so these pass on any machine.
    #[cfg(feature = "gpu")]
    #[test]
    fn gpu_names_parse_and_round_trip() {
        assert!(DeviceChoice::GPU_SUPPORT);
        assert_eq!("gpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Gpu(0));
        assert_eq!(
            "GPU:2".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Gpu(2)
        );
        assert_eq!(
            "vulkan".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Gpu(0)
        );
        assert_eq!(
            "vulkan:1".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Gpu(1)
        );
        let gpu = DeviceChoice::Gpu(1);
        assert!(gpu.is_gpu());
        assert_eq!(gpu.to_string(), "gpu:1");
        assert_eq!(gpu.to_string().parse::<DeviceChoice>().unwrap(), gpu);
        assert_eq!(serde_json::to_string(&gpu).unwrap(), "\"gpu:1\"");
        assert_eq!(
            serde_json::from_str::<DeviceChoice>("\"gpu\"").unwrap(),
            DeviceChoice::Gpu(0)
        );
    }
}
