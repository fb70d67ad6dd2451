//! Command-line flags shared by the training commands, and how they override a
//! configuration (defaults, or a `--config` file).

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use supcon::augment::{Augment, AugmentConfig};
use supcon::device::DeviceChoice;
use supcon::loss::{ContrastMode, Variant};
use supcon::model::{EncoderConfig, EncoderInit, EncoderKind, HeadKind, Stem};
use supcon::train::{DataConfig, Decay, OptimizerConfig, OptimizerKind, ScheduleConfig};

/// Which data.
#[derive(Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Dataset spec: builtin | cifar10:DIR | cifar100:DIR | idx:DIR | folder:DIR | shards:DIR [default:
    /// builtin; linear, finetune, predict and embed: the source run's data]
    #[arg(long, value_name = "SPEC")]
    pub data: Option<String>,
    /// Keep at most N training samples (class-stratified)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub limit: Option<usize>,
    /// Keep exactly K training samples per class (few-shot)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "K")]
    pub shots: Option<usize>,
    /// Keep at most N test samples
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub test_limit: Option<usize>,
    /// Data-loading threads (0 = one per core); results do not depend on it
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub threads: Option<usize>,
    /// Memory budget for decoded images of a folder with cache=auto (e.g. 4GiB, 512M);
    /// above it the folder is streamed from disk [default: 4GiB]
    #[arg(long, value_parser = memory, value_name = "SIZE")]
    pub data_memory: Option<u64>,
    /// Hold out this fraction of the training set (class-stratified, the same draw for
    /// every seed and stage) and report on it instead of the test split
    #[arg(long, allow_negative_numbers = true, value_name = "F",
        value_parser = crate::args::fraction)]
    pub val_split: Option<f64>,
}

/// Parses a memory size such as `4GiB`.
fn memory(s: &str) -> Result<u64, String> {
    supcon::data::parse_memory(s)
}

impl DataArgs {
    /// The flags that were given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        given(&[
            ("--data", self.data.is_some()),
            ("--limit", self.limit.is_some()),
            ("--shots", self.shots.is_some()),
            ("--test-limit", self.test_limit.is_some()),
            ("--threads", self.threads.is_some()),
            ("--data-memory", self.data_memory.is_some()),
            ("--val-split", self.val_split.is_some()),
        ])
    }

    /// Applies the given flags to `data`.
    pub fn apply(&self, data: &mut DataConfig) {
        if let Some(s) = &self.data {
            data.spec = s.clone();
        }
        if self.limit.is_some() {
            data.limit = self.limit;
        }
        if self.shots.is_some() {
            data.shots = self.shots;
        }
        if self.test_limit.is_some() {
            data.test_limit = self.test_limit;
        }
        if let Some(t) = self.threads {
            data.threads = t;
        }
        if self.data_memory.is_some() {
            data.memory = self.data_memory;
        }
        if self.val_split.is_some() {
            data.val_split = self.val_split;
        }
    }
}

/// The encoder.
#[derive(Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Encoder: resnet18 | resnet34 | resnet50 | resnet101 | resnet152 | resnet200 | resnet-tiny | mlp [default: resnet-tiny]
    #[arg(long, value_name = "NAME")]
    pub model: Option<EncoderKind>,
    /// ResNet stem: cifar (3x3, no max-pool) | imagenet (7x7 + max-pool) | compact (3x3 stride 2) [default: compact for resnet-tiny, cifar otherwise]
    #[arg(long)]
    pub stem: Option<Stem>,
    /// ResNet width multiplier [default: 1]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "K")]
    pub width: Option<usize>,
}

impl ModelArgs {
    /// The flags that were given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        given(&[
            ("--model", self.model.is_some()),
            ("--stem", self.stem.is_some()),
            ("--width", self.width.is_some()),
        ])
    }

    /// Applies the given flags to `encoder`.
    pub fn apply(&self, encoder: &mut EncoderConfig) {
        if let Some(m) = self.model {
            encoder.name = m;
        }
        if let Some(s) = self.stem {
            encoder.stem = Some(s);
        }
        if let Some(w) = self.width {
            encoder.width = w;
        }
    }
}

/// Initial encoder weights.
#[derive(Args, Debug, Clone, Default)]
pub struct InitArgs {
    /// Start the encoder from a torchvision ResNet's weights: torchvision:FILE, a state dict
    /// saved with torch.save (.pth) or as .safetensors, for --model resnet18 | resnet34 |
    /// resnet50 (also resnet101, resnet152) at width 1. Nothing is downloaded. The file's
    /// 7x7 stem loads only with --stem imagenet (3-channel images); with the cifar or
    /// compact stem, conv1 and bn1 keep their random initialisation, every other layer is
    /// loaded, and a warning says so. The file's fc is not used
    #[arg(long, value_name = "torchvision:FILE")]
    pub init: Option<EncoderInit>,
}

impl InitArgs {
    /// The flags that were given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        given(&[("--init", self.init.is_some())])
    }
}

/// Budget, optimiser, schedule, augmentation and run-time settings.
#[derive(Args, Debug, Clone, Default)]
pub struct TrainArgs {
    /// Epochs
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub epochs: Option<usize>,
    /// Images per batch
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Learning rate (per 256 samples with --scale-lr) [default: pretrain 0.5 x batch / 1024,
    /// the paper's; train-ce and linear 0.1; finetune 0.01]
    #[arg(long, allow_negative_numbers = true, value_name = "LR")]
    pub lr: Option<f64>,
    /// Scale the LR linearly with the batch size (lr * batch / 256)
    #[arg(long)]
    pub scale_lr: bool,
    /// Linear warm-up epochs
    #[arg(long, allow_negative_numbers = true, value_name = "EPOCHS")]
    pub warmup: Option<f64>,
    /// LR decay: cosine | step | exponential | constant [default: cosine]
    #[arg(long)]
    pub schedule: Option<Decay>,
    /// Epochs (0-based) at which the step schedule multiplies the LR by 0.1
    /// [default with --schedule step: 70%, 80% and 90% of --epochs, as the SupContrast
    /// reference's 350,400,450 of 500]
    #[arg(long, value_name = "E1,E2,..", value_delimiter = ',')]
    pub milestones: Vec<usize>,
    /// Optimiser: sgd | lars | rmsprop | adamw
    #[arg(long)]
    pub optimizer: Option<OptimizerKind>,
    /// Momentum
    #[arg(long, allow_negative_numbers = true)]
    pub momentum: Option<f64>,
    /// Weight decay
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Nesterov momentum (SGD, LARS)
    #[arg(long)]
    pub nesterov: bool,
    /// Augmentation: none | sim | crop | autoaugment-cifar10 | autoaugment-imagenet | randaugment | stacked-randaugment
    #[arg(long, value_name = "POLICY")]
    pub augment: Option<Augment>,
    /// Seed of initialisation, shuffling and augmentation
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::whole)]
    pub seed: Option<u64>,
    /// Device: cpu | gpu[:N] (GPU with a `--features gpu` build) [default: cpu]
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Write a checkpoint every N epochs (and after the last)
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub checkpoint_every: Option<usize>,
}

/// The mutable parts of a stage configuration that [`TrainArgs`] overrides.
pub struct TrainTargets<'a> {
    pub epochs: &'a mut usize,
    pub batch_size: &'a mut usize,
    pub schedule: &'a mut ScheduleConfig,
    pub optimizer: &'a mut OptimizerConfig,
    pub augment: Option<&'a mut AugmentConfig>,
    pub seed: &'a mut u64,
    pub device: &'a mut DeviceChoice,
    pub checkpoint_every: Option<&'a mut usize>,
}

impl TrainArgs {
    /// The flags that were given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        given(&[
            ("--epochs", self.epochs.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--lr", self.lr.is_some()),
            ("--scale-lr", self.scale_lr),
            ("--warmup", self.warmup.is_some()),
            ("--schedule", self.schedule.is_some()),
            ("--milestones", !self.milestones.is_empty()),
            ("--optimizer", self.optimizer.is_some()),
            ("--momentum", self.momentum.is_some()),
            ("--weight-decay", self.weight_decay.is_some()),
            ("--nesterov", self.nesterov),
            ("--augment", self.augment.is_some()),
            ("--seed", self.seed.is_some()),
            ("--device", self.device.is_some()),
            ("--checkpoint-every", self.checkpoint_every.is_some()),
        ])
    }

    /// Applies the given flags.
    pub fn apply(&self, t: TrainTargets<'_>) {
        if let Some(v) = self.epochs {
            *t.epochs = v;
        }
        if let Some(v) = self.batch_size {
            *t.batch_size = v;
        }
        if let Some(v) = self.lr {
            // The given value is the LR itself unless --scale-lr says it is per 256.
            t.schedule.base_lr = v;
            t.schedule.scale_by_batch = false;
        }
        if self.scale_lr {
            t.schedule.scale_by_batch = true;
        }
        if let Some(v) = self.warmup {
            t.schedule.warmup_epochs = v;
        }
        if let Some(v) = &self.schedule {
            t.schedule.decay = v.clone();
        }
        if let Decay::Step { milestones, .. } = &mut t.schedule.decay {
            if !self.milestones.is_empty() {
                milestones.clone_from(&self.milestones);
            } else if milestones.is_empty() {
                *milestones = Decay::default_milestones(*t.epochs);
            }
        }
        if let Some(v) = self.optimizer {
            t.optimizer.kind = v;
        }
        if let Some(v) = self.momentum {
            t.optimizer.momentum = v;
        }
        if let Some(v) = self.weight_decay {
            t.optimizer.weight_decay = v;
        }
        if self.nesterov {
            t.optimizer.nesterov = true;
        }
        if let (Some(v), Some(a)) = (self.augment, t.augment) {
            a.policy = v;
        }
        if let Some(v) = self.seed {
            *t.seed = v;
        }
        if let Some(v) = self.device {
            *t.device = v;
        }
        if let (Some(v), Some(c)) = (self.checkpoint_every, t.checkpoint_every) {
            *c = v;
        }
    }
}

impl LossArgs {
    /// The flags that were given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        given(&[
            ("--temperature", self.temperature.is_some()),
            ("--base-temperature", self.base_temperature.is_some()),
            ("--contrast-mode", self.contrast_mode.is_some()),
            ("--variant", self.variant.is_some()),
            ("--positives-cap", self.positives_cap.is_some()),
            ("--head", self.head.is_some()),
            ("--proj-dim", self.proj_dim.is_some()),
        ])
    }
}

/// Refuses the flags in `given` that do nothing with these settings (the library's one
/// table, [`supcon::train::applies`]).
pub fn check_applies(
    given: &[&str],
    optimizer: &OptimizerConfig,
    schedule: &ScheduleConfig,
    method: Option<supcon::train::Method>,
) -> Result<()> {
    let context = supcon::train::applies::Context {
        method,
        ..supcon::train::applies::Context::new(optimizer.kind, &schedule.decay)
    };
    Ok(supcon::train::applies::check(given, &context)?)
}

/// Parses a count flag (a whole number >= 0). A negative or fractional value is named
/// as such, rather than clap's `invalid digit found in string`.
pub fn count(s: &str) -> Result<usize, String> {
    parse_whole(s)
}

/// Parses a fraction strictly between 0 and 1 (`--val-split`).
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        Ok(v) => Err(format!(
            "{v} is not strictly between 0 and 1; expected a fraction such as 0.2"
        )),
        Err(_) => Err(format!(
            "'{}' is not a number; expected a fraction such as 0.2",
            s.trim()
        )),
    }
}

/// As [`count`], for 64-bit values (seeds).
pub fn whole(s: &str) -> Result<u64, String> {
    parse_whole(s)
}

fn parse_whole<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let t = s.trim();
    t.parse::<T>().map_err(|_| {
        if t.starts_with('-') && t[1..].parse::<f64>().is_ok() {
            format!("{t} is negative; expected a whole number >= 0")
        } else if t.parse::<f64>().is_ok_and(|v| v.fract() != 0.0) {
            format!("{t} is not a whole number; expected a whole number >= 0")
        } else if t.parse::<f64>().is_ok() {
            format!("{t} is too large or not written as digits; expected a whole number >= 0 in digits, such as 100000")
        } else {
            format!("'{t}' is not a number; expected a whole number >= 0")
        }
    })
}

/// The names whose flag is set.
pub fn given(flags: &[(&'static str, bool)]) -> Vec<&'static str> {
    flags
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect()
}

/// `--resume` continues a run exactly as its `config.json` says: any flag that would
/// change the configuration is an error rather than silently ignored. `--device` is the
/// exception: the run continues on that device (see [`RunOptions::resume_device`]).
///
/// # Errors
/// When `resume` is set and `given` holds another flag, naming the flags.
///
/// [`RunOptions::resume_device`]: supcon::train::RunOptions::resume_device
pub fn refuse_with_resume(resume: Option<&Path>, given: &[&str]) -> Result<()> {
    let given: Vec<&str> = given.iter().copied().filter(|f| *f != "--device").collect();
    if let (Some(dir), false) = (resume, given.is_empty()) {
        anyhow::bail!(
            "--resume {} continues the run as its config.json says; {} cannot be changed on \
             resume (start a new run with --out to change {})",
            dir.display(),
            given.join(", "),
            if given.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

/// Loss flags of `pretrain`.
#[derive(Args, Debug, Clone, Default)]
pub struct LossArgs {
    /// Softmax temperature [default: 0.1 for supcon, 0.5 for simclr]
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f64>,
    /// Base temperature: the loss is scaled by temperature / base [default: = temperature]
    #[arg(long, allow_negative_numbers = true)]
    pub base_temperature: Option<f64>,
    /// Anchors: all views | one (the first view)
    #[arg(long)]
    pub contrast_mode: Option<ContrastMode>,
    /// L_out (eq. 2, default) or L_in (eq. 3)
    #[arg(long)]
    pub variant: Option<Variant>,
    /// At most N positives per anchor from other samples
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub positives_cap: Option<usize>,
    /// Projection head: mlp | linear [default: mlp]
    #[arg(long)]
    pub head: Option<HeadKind>,
    /// Projection dimension [default: 128]
    #[arg(long, allow_negative_numbers = true,
        value_parser = crate::args::count, value_name = "N")]
    pub proj_dim: Option<usize>,
}

/// Reads a stage configuration from a `.json` or `.toml` file (unknown fields rejected).
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    // A FIFO or a device would block or never end: refused before it is opened.
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        anyhow::bail!(
            "config file {}: not a regular file; expected a .toml or .json file",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let toml = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => true,
        Some("json") => false,
        _ => anyhow::bail!(
            "config file {}: expected a .toml or .json file",
            path.display()
        ),
    };
    // What a typed parse would let through: a JSON array read positionally into the
    // fields, and a device this binary does not have (a saved run's config falls back to
    // the CPU with a warning; a new run's must not).
    let value: serde_json::Value = if toml {
        toml::from_str::<toml::Value>(&text)
            .map_err(anyhow::Error::from)
            .and_then(|v| Ok(serde_json::to_value(v)?))
    } else {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    }
    .with_context(|| format!("config file {}", path.display()))?;
    let Some(fields) = value.as_object() else {
        anyhow::bail!(
            "config file {}: expected a table of settings (a JSON object), not {}",
            path.display(),
            if value.is_array() {
                "an array"
            } else {
                "a single value"
            }
        );
    };
    let devices = fields.get("device").into_iter().chain(
        fields
            .get("devices")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten(),
    );
    for device in devices.filter_map(|d| d.as_str()) {
        if let Err(e) = device.parse::<DeviceChoice>() {
            anyhow::bail!("config file {}: {e}", path.display());
        }
    }
    // Typed from the text again (not from `value`): the parsers' messages then point at
    // the line of a wrong field.
    let parsed = if toml {
        toml::from_str(&text).map_err(anyhow::Error::from)
    } else {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    };
    parsed.with_context(|| format!("config file {}", path.display()))
}

/// Runs `work` on the output directory: `out` when given, otherwise a new, unique
/// `runs/<prefix>-<unix seconds>[-N]`, created atomically so that two commands started in
/// the same second never share it. A default directory that `work` fails to fill (bad
/// settings found before training) is removed again when it holds nothing but its lock.
pub fn with_out<T>(
    out: Option<&Path>,
    prefix: &str,
    work: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    if let Some(out) = out {
        return work(out);
    }
    let dir = supcon::dirlock::unique_dir(Path::new("runs"), prefix)
        .with_context(|| format!("creating runs/{prefix}-<time>"))?;
    let result = work(&dir);
    if result.is_err() {
        let _ = std::fs::remove_file(dir.join(supcon::dirlock::LOCK_FILE));
        let _ = std::fs::remove_dir(dir.join("checkpoints"));
        let _ = std::fs::remove_dir(&dir);
    }
    result
}
