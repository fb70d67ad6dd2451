//! The one place where a device name from the command line becomes a burn [`Device`].
//!
//! Every command takes `--device NAME`; only this module knows which backends the binary
//! was built with. GPU backends arrive behind a cargo feature (see the README).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A device choice, parsed from `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// burn's `flex` CPU backend (multi-threaded with rayon, SIMD kernels).
    #[default]
    Cpu,
}

/// A device name that was not understood or is not available in this build.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The name is not a known device.
    #[error("unknown device '{0}': expected 'cpu'")]
    Unknown(String),
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            _ => Err(DeviceError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
        }
    }
}

impl DeviceChoice {
    /// The burn device for inference (no autodiff).
    pub fn device(self) -> Device {
        match self {
            Self::Cpu => Device::flex(),
        }
    }

    /// The burn device with autodiff enabled, for training.
    pub fn autodiff_device(self) -> Device {
        self.device().autodiff()
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
}
