//! Weight I/O: any module to and from safetensors, and torchvision ResNet checkpoints
//! (PyTorch `.pth` / `.pt` state dicts, or the same state dict as `.safetensors`) into
//! [`ResNet`] and [`LinearClassifier`], and a [`ResNet`] back out in torchvision's layout.
//!
//! Saving is atomic: the file is written to a temporary sibling, fsynced, then renamed
//! over the destination, so a crash leaves either the old file or the new one. Loading
//! first compares the file's tensor names and shapes with the model's and refuses a file
//! of another architecture with [`ModelError::ArchitectureMismatch`], naming the file and
//! the tensors that differ.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};
use burn::tensor::Tensor;

use super::error::ModelError;
use super::heads::LinearClassifier;
use super::resnet::ResNet;

/// Tensor name -> shape.
type Signature = BTreeMap<String, Vec<usize>>;

/// The largest safetensors JSON header accepted (as the safetensors crate).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// How many names of each kind a mismatch message lists.
const MAX_LISTED: usize = 6;

/// Saves a module's parameters and BatchNorm running statistics to a safetensors file.
///
/// Tensor names are the module paths (enum variants included, e.g.
/// `ResNet.layer1.0.Basic.conv1.weight` for an [`Encoder`](super::Encoder)). The module
/// may be in training state on an autodiff device: the latest running statistics are
/// saved. The write is atomic (temporary sibling, fsync, rename); an existing file is
/// replaced.
pub fn save_weights<M: ModuleSnapshot>(
    module: &M,
    path: impl AsRef<Path>,
) -> Result<(), ModelError> {
    save_weights_with_metadata(module, path, &[])
}

/// [`save_weights`] with extra string metadata in the safetensors header (for instance
/// the model configuration as JSON), read back by [`read_weights_metadata`].
pub fn save_weights_with_metadata<M: ModuleSnapshot>(
    module: &M,
    path: impl AsRef<Path>,
    metadata: &[(&str, &str)],
) -> Result<(), ModelError> {
    let path = path.as_ref();
    // `valid` folds pending BatchNorm running-statistic updates into the (shared) state,
    // which a plain visit would read one update late.
    let module = module.valid();
    let mut store = SafetensorsStore::from_bytes(None).skip_enum_variants(false);
    for (key, value) in metadata {
        store = store.metadata(*key, *value);
    }
    module
        .save_into(&mut store)
        .map_err(|err| ModelError::weights(path, format!("cannot serialise the weights: {err}")))?;
    let bytes = store
        .get_bytes()
        .map_err(|err| ModelError::weights(path, format!("cannot serialise the weights: {err}")))?;
    write_atomic(path, &bytes)
}

/// Loads weights saved by [`save_weights`] into `module`, which must have the same
/// architecture (same tensor names and shapes).
///
/// # Errors
/// [`ModelError::ArchitectureMismatch`] when the file holds a different architecture;
/// [`ModelError::Io`] / [`ModelError::Weights`] when it cannot be read or is not a valid
/// safetensors file.
pub fn load_weights<M: ModuleSnapshot>(module: M, path: impl AsRef<Path>) -> Result<M, ModelError> {
    let path = path.as_ref();
    let (file_signature, _) = read_safetensors_header(path)?;
    let model_signature = module_signature(&module, Naming::Burn);
    if let Some(details) = compare_signatures(&model_signature, &file_signature) {
        return Err(ModelError::ArchitectureMismatch {
            path: path.to_path_buf(),
            details,
        });
    }

    let mut module = module;
    let mut store = SafetensorsStore::from_file(path)
        .skip_enum_variants(false)
        .validate(true)
        .allow_partial(false);
    let result = module
        .load_from(&mut store)
        .map_err(|err| ModelError::weights(path, err.to_string()))?;
    check_applied(path, &result, &BTreeSet::new())?;
    Ok(module)
}

/// The string metadata of a safetensors file (including burn's `format`, `producer` and
/// `version` entries).
pub fn read_weights_metadata(
    path: impl AsRef<Path>,
) -> Result<BTreeMap<String, String>, ModelError> {
    let (_, metadata) = read_safetensors_header(path.as_ref())?;
    Ok(metadata)
}

/// What a torchvision import loaded and left aside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Model tensors that received a value from the checkpoint.
    pub applied: Vec<String>,
    /// Checkpoint entries not loaded: `*.num_batches_tracked` and the classifier `fc.*`.
    pub skipped: Vec<String>,
}

/// Loads a torchvision ResNet checkpoint (a `state_dict` saved with `torch.save`, or the
/// same state dict as a `.safetensors` file, told apart by the extension) into `resnet`,
/// which must have the same depth, width and stem (the ImageNet stem; see
/// [`EncoderInit`](super::EncoderInit) for the CIFAR stem). Nothing is downloaded.
///
/// Names map one to one (`conv1.weight`, `bn1.running_mean`, `layer1.0.conv2.weight`, ...)
/// except the shortcut: `layerN.0.downsample.0.*` -> `downsample.conv.*` and
/// `downsample.1.*` -> `downsample.bn.*`; BatchNorm `weight`/`bias` become `gamma`/`beta`.
/// `num_batches_tracked` and the classifier `fc.*` are skipped (load `fc` with
/// [`import_torchvision_classifier`]). `top_level_key` selects a nested state dict (for a
/// checkpoint like `{"state_dict": {...}}`).
///
/// # Errors
/// [`ModelError::ArchitectureMismatch`] when the checkpoint is for another architecture
/// (names in the message are torchvision's); [`ModelError::Weights`] when it cannot be
/// parsed.
pub fn import_torchvision_resnet(
    resnet: ResNet,
    path: impl AsRef<Path>,
    top_level_key: Option<&str>,
) -> Result<(ResNet, ImportReport), ModelError> {
    let path = path.as_ref();
    match torchvision_store(path, top_level_key)? {
        TorchvisionStore::Pytorch(store) => import_resnet_from(resnet, path, store),
        TorchvisionStore::Safetensors(store) => import_resnet_from(resnet, path, store),
    }
}

/// [`import_torchvision_resnet`] from an opened store.
fn import_resnet_from<S>(
    resnet: ResNet,
    path: &Path,
    mut store: S,
) -> Result<(ResNet, ImportReport), ModelError>
where
    S: ModuleStore,
    S::Error: std::fmt::Display,
{
    let file_tensors = store
        .get_all_tensors()
        .map_err(|err| ModelError::weights(path, format!("cannot read the checkpoint: {err}")))?;

    let mut skipped = Vec::new();
    let mut file_signature = Signature::new();
    for (name, tensor) in file_tensors {
        if name.ends_with(".num_batches_tracked") || name.starts_with("fc.") {
            skipped.push(to_torchvision_name(name));
        } else {
            file_signature.insert(to_torchvision_name(name), tensor.shape.to_vec());
        }
    }
    let model_signature: Signature = module_signature(&resnet, Naming::PyTorch)
        .into_iter()
        .map(|(name, shape)| (to_torchvision_name(&name), shape))
        .collect();
    if let Some(details) = compare_signatures(&model_signature, &file_signature) {
        return Err(ModelError::ArchitectureMismatch {
            path: path.to_path_buf(),
            details,
        });
    }

    let mut resnet = resnet;
    let result = resnet
        .load_from(&mut store)
        .map_err(|err| ModelError::weights(path, err.to_string()))?;
    let ignored: BTreeSet<String> = result
        .unused
        .iter()
        .filter(|name| name.ends_with(".num_batches_tracked") || name.starts_with("fc."))
        .cloned()
        .collect();
    check_applied(path, &result, &ignored)?;
    Ok((
        resnet,
        ImportReport {
            applied: result.applied,
            skipped,
        },
    ))
}

/// The tensor names (torchvision's) and shapes of a torchvision checkpoint, `fc.*` and
/// `num_batches_tracked` included: what [`import_torchvision_resnet`] would read.
///
/// # Errors
/// [`ModelError::Io`] when the file cannot be opened, [`ModelError::Weights`] when it is
/// not a PyTorch or safetensors checkpoint.
pub fn read_torchvision_signature(
    path: impl AsRef<Path>,
    top_level_key: Option<&str>,
) -> Result<BTreeMap<String, Vec<usize>>, ModelError> {
    fn names<S>(path: &Path, mut store: S) -> Result<Signature, ModelError>
    where
        S: ModuleStore,
        S::Error: std::fmt::Display,
    {
        Ok(store
            .get_all_tensors()
            .map_err(|err| ModelError::weights(path, format!("cannot read the checkpoint: {err}")))?
            .iter()
            .map(|(name, tensor)| (to_torchvision_name(name), tensor.shape.to_vec()))
            .collect())
    }
    let path = path.as_ref();
    match torchvision_store(path, top_level_key)? {
        TorchvisionStore::Pytorch(store) => names(path, store),
        TorchvisionStore::Safetensors(store) => names(path, store),
    }
}

/// Saves `resnet` as a torchvision state dict in safetensors format: torchvision's names
/// (`bn1.weight`, `layer1.0.downsample.0.weight`, ...), no `fc` and no
/// `num_batches_tracked`. [`import_torchvision_resnet`] reads it back. The write is
/// atomic; an existing file is replaced.
pub fn save_torchvision_resnet(resnet: &ResNet, path: impl AsRef<Path>) -> Result<(), ModelError> {
    let path = path.as_ref();
    let resnet = resnet.valid();
    let mut store = SafetensorsStore::from_bytes(None)
        .skip_enum_variants(true)
        .with_to_adapter(BurnToPyTorchAdapter)
        .with_key_remapping(r"\.downsample\.conv\.", ".downsample.0.")
        .with_key_remapping(r"\.downsample\.bn\.", ".downsample.1.")
        .metadata("format", "pt");
    resnet
        .save_into(&mut store)
        .map_err(|err| ModelError::weights(path, format!("cannot serialise the weights: {err}")))?;
    let bytes = store
        .get_bytes()
        .map_err(|err| ModelError::weights(path, format!("cannot serialise the weights: {err}")))?;
    write_atomic(path, &bytes)
}

/// Loads the classifier `fc.weight` / `fc.bias` of a torchvision checkpoint into a
/// [`LinearClassifier`] of the same shape (PyTorch's `[K, D]` weight is transposed to
/// burn's `[D, K]`).
pub fn import_torchvision_classifier(
    classifier: LinearClassifier,
    path: impl AsRef<Path>,
    top_level_key: Option<&str>,
) -> Result<LinearClassifier, ModelError> {
    let path = path.as_ref();
    match torchvision_store(path, top_level_key)? {
        TorchvisionStore::Pytorch(store) => {
            import_classifier_from(classifier, path, store.with_regex(r"^fc\."))
        }
        TorchvisionStore::Safetensors(store) => {
            import_classifier_from(classifier, path, store.with_regex(r"^fc\."))
        }
    }
}

/// [`import_torchvision_classifier`] from an opened store.
fn import_classifier_from<S>(
    classifier: LinearClassifier,
    path: &Path,
    mut store: S,
) -> Result<LinearClassifier, ModelError>
where
    S: ModuleStore,
    S::Error: std::fmt::Display,
{
    let file_signature: Signature = store
        .get_all_tensors()
        .map_err(|err| ModelError::weights(path, format!("cannot read the checkpoint: {err}")))?
        .iter()
        .filter(|(name, _)| name.starts_with("fc."))
        .map(|(name, tensor)| (name.clone(), tensor.shape.to_vec()))
        .collect();
    let model_signature = module_signature(&classifier, Naming::PyTorch);
    if let Some(details) = compare_signatures(&model_signature, &file_signature) {
        return Err(ModelError::ArchitectureMismatch {
            path: path.to_path_buf(),
            details,
        });
    }
    let mut classifier = classifier;
    let result = classifier
        .load_from(&mut store)
        .map_err(|err| ModelError::weights(path, err.to_string()))?;
    let ignored: BTreeSet<String> = result.unused.iter().cloned().collect();
    check_applied(path, &result, &ignored)?;
    Ok(classifier)
}

/// A torchvision checkpoint opened for reading, by its format.
enum TorchvisionStore {
    /// A `torch.save` pickle (`.pth`, `.pt`, anything but `.safetensors`).
    Pytorch(PytorchStore),
    /// A `.safetensors` file of the same state dict.
    Safetensors(SafetensorsStore),
}

/// Whether `path` names a safetensors file (by its extension, in any case).
fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("safetensors"))
}

/// A store with torchvision's names (shortcut, BatchNorm, `[out, in]` Linear weights)
/// mapped to ours. The file must be a regular file: a directory, FIFO or device is refused
/// before it is opened.
fn torchvision_store(
    path: &Path,
    top_level_key: Option<&str>,
) -> Result<TorchvisionStore, ModelError> {
    let meta = fs::metadata(path).map_err(|err| ModelError::io(path, err))?;
    if !meta.is_file() {
        return Err(ModelError::weights(
            path,
            "not a regular file (expected a .pth state dict or a .safetensors file)",
        ));
    }
    if is_safetensors(path) {
        if let Some(key) = top_level_key {
            return Err(ModelError::weights(
                path,
                format!("a safetensors file has no nested state dict (top-level key '{key}')"),
            ));
        }
        // Checked by our own header reader first: a clear message for a file that is not
        // safetensors at all.
        read_safetensors_header(path)?;
        return Ok(TorchvisionStore::Safetensors(
            SafetensorsStore::from_file(path)
                .skip_enum_variants(true)
                .with_from_adapter(PyTorchToBurnAdapter)
                .with_key_remapping(r"\.downsample\.0\.", ".downsample.conv.")
                .with_key_remapping(r"\.downsample\.1\.", ".downsample.bn.")
                .validate(true)
                .allow_partial(false),
        ));
    }
    let store = PytorchStore::from_file(path)
        .map_indices_contiguous(false)
        .with_key_remapping(r"\.downsample\.0\.", ".downsample.conv.")
        .with_key_remapping(r"\.downsample\.1\.", ".downsample.bn.")
        .validate(true)
        .allow_partial(false);
    Ok(TorchvisionStore::Pytorch(match top_level_key {
        Some(key) => store.with_top_level_key(key),
        None => store,
    }))
}

/// Our shortcut names written the torchvision way (for messages and comparisons).
fn to_torchvision_name(name: &str) -> String {
    name.replace(".downsample.conv.", ".downsample.0.")
        .replace(".downsample.bn.", ".downsample.1.")
}

/// How a signature names tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Naming {
    /// burn's module paths with enum variants, as [`save_weights`] writes them.
    Burn,
    /// PyTorch's: no enum variants, BatchNorm `weight`/`bias`, Linear weights `[out, in]`.
    PyTorch,
}

/// The names and shapes of a module's tensors, as a store would write them, read from the
/// parameters' lazy shapes (no parameter is initialised).
fn module_signature<M: Module>(module: &M, naming: Naming) -> Signature {
    struct Visitor {
        /// (field or index name, type of the container it belongs to)
        path: Vec<(String, String)>,
        naming: Naming,
        signature: Signature,
    }
    impl ModuleVisitor for Visitor {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.path
                .push((name.to_string(), container_type.to_string()));
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let mut shape = param.lazy_shape().to_vec();
            let pytorch = self.naming == Naming::PyTorch;
            let mut names: Vec<&str> = self
                .path
                .iter()
                .filter(|(_, container)| !(pytorch && container.starts_with("Enum:")))
                .map(|(name, _)| name.as_str())
                .collect();
            if pytorch && let Some((name, container)) = self.path.last() {
                match (container.as_str(), name.as_str()) {
                    ("Struct:BatchNorm", "gamma") => *names.last_mut().unwrap() = "weight",
                    ("Struct:BatchNorm", "beta") => *names.last_mut().unwrap() = "bias",
                    ("Struct:Linear", "weight") if shape.len() == 2 => shape.reverse(),
                    _ => {}
                }
            }
            self.signature.insert(names.join("."), shape);
        }
    }
    let mut visitor = Visitor {
        path: Vec::new(),
        naming,
        signature: Signature::new(),
    };
    module.visit(&mut visitor);
    visitor.signature
}

/// `None` when both signatures are equal, otherwise what differs.
fn compare_signatures(model: &Signature, file: &Signature) -> Option<String> {
    let missing: Vec<&String> = model
        .keys()
        .filter(|name| !file.contains_key(*name))
        .collect();
    let unexpected: Vec<&String> = file
        .keys()
        .filter(|name| !model.contains_key(*name))
        .collect();
    let reshaped: Vec<String> = model
        .iter()
        .filter_map(|(name, shape)| {
            let found = file.get(name)?;
            (found != shape).then(|| format!("{name}: file {found:?}, model {shape:?}"))
        })
        .collect();
    if missing.is_empty() && unexpected.is_empty() && reshaped.is_empty() {
        return None;
    }

    let mut parts = Vec::new();
    if !reshaped.is_empty() {
        parts.push(format!(
            "{} tensor(s) of another shape ({})",
            reshaped.len(),
            listing(reshaped.iter())
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "{} model tensor(s) missing from the file ({})",
            missing.len(),
            listing(missing.iter())
        ));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "{} file tensor(s) not in the model ({})",
            unexpected.len(),
            listing(unexpected.iter())
        ));
    }
    Some(format!(
        "{}; the file holds {} tensors, the model {}",
        parts.join("; "),
        file.len(),
        model.len()
    ))
}

/// The first [`MAX_LISTED`] items, comma-separated, with a count of the rest.
fn listing<T: std::fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    crate::listing::listing(items, MAX_LISTED)
}

/// Refuses an apply that reported errors, missing tensors, or unused tensors other than
/// `ignored`.
fn check_applied(
    path: &Path,
    result: &ApplyResult,
    ignored: &BTreeSet<String>,
) -> Result<(), ModelError> {
    let unused: Vec<&String> = result
        .unused
        .iter()
        .filter(|name| !ignored.contains(*name))
        .collect();
    if result.errors.is_empty() && result.missing.is_empty() && unused.is_empty() {
        return Ok(());
    }
    let mut problems: Vec<String> = result.errors.iter().map(|err| err.to_string()).collect();
    problems.extend(
        result
            .missing
            .iter()
            .map(|(name, _)| format!("missing {name}")),
    );
    problems.extend(unused.iter().map(|name| format!("unused {name}")));
    Err(ModelError::weights(
        path,
        format!("weights could not be applied: {}", listing(problems.iter())),
    ))
}

/// Tensor shapes and string metadata from a safetensors header.
fn read_safetensors_header(
    path: &Path,
) -> Result<(Signature, BTreeMap<String, String>), ModelError> {
    let mut file = File::open(path).map_err(|err| ModelError::io(path, err))?;
    let file_len = file
        .metadata()
        .map_err(|err| ModelError::io(path, err))?
        .len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|_| ModelError::weights(path, "not a safetensors file (shorter than 8 bytes)"))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES || header_len > file_len - 8 {
        return Err(ModelError::weights(
            path,
            format!(
                "not a safetensors file (header of {header_len} bytes in a file of {file_len})"
            ),
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|err| ModelError::io(path, err))?;
    let header: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|err| ModelError::weights(path, format!("not a safetensors file: {err}")))?;
    let serde_json::Value::Object(entries) = header else {
        return Err(ModelError::weights(
            path,
            "not a safetensors file (header is not a JSON object)",
        ));
    };

    let mut signature = Signature::new();
    let mut metadata = BTreeMap::new();
    for (name, entry) in entries {
        if name == "__metadata__" {
            if let serde_json::Value::Object(map) = entry {
                for (key, value) in map {
                    if let serde_json::Value::String(value) = value {
                        metadata.insert(key, value);
                    }
                }
            }
            continue;
        }
        let shape = entry
            .get("shape")
            .and_then(|shape| shape.as_array())
            .and_then(|dims| {
                dims.iter()
                    .map(|dim| dim.as_u64().map(|dim| dim as usize))
                    .collect::<Option<Vec<usize>>>()
            })
            .ok_or_else(|| {
                ModelError::weights(path, format!("tensor '{name}' has no valid shape"))
            })?;
        signature.insert(name, shape);
    }
    Ok((signature, metadata))
}

/// Writes `bytes` to `path` atomically: temporary sibling, fsync, rename, fsync of the
/// directory. The temporary file is removed on failure.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path
        .file_name()
        .ok_or_else(|| ModelError::Config(format!("'{}' is not a file path", path.display())))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = dir.join(format!(
        ".{}.{}-{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let write = || -> std::io::Result<()> {
        let mut file = File::create_new(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        // Persist the rename itself; not every platform can open a directory.
        if let Ok(dir) = File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    };
    write().map_err(|err| {
        let _ = fs::remove_file(&temp);
        ModelError::io(path, err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        EncoderConfig, EncoderKind, HeadConfig, HeadKind, LinearClassifierConfig, ResNetConfig,
        SupConModelConfig,
    };
    use burn::store::{BurnToPyTorchAdapter, ModuleAdapter};
    use burn::tensor::Device;

    /// The signature burn-store's own collector gives (it initialises every parameter).
    fn collected<M: ModuleSnapshot>(module: &M, naming: Naming) -> Signature {
        let (adapter, skip): (Option<Box<dyn ModuleAdapter>>, bool) = match naming {
            Naming::Burn => (None, false),
            Naming::PyTorch => (Some(Box::new(BurnToPyTorchAdapter)), true),
        };
        module
            .collect(None, adapter, skip)
            .into_iter()
            .map(|tensor| (tensor.name.clone(), tensor.shape.to_vec()))
            .collect()
    }

    #[test]
    fn lazy_signatures_match_burn_store() {
        let device = Device::flex();
        let model = SupConModelConfig {
            encoder: EncoderConfig::new(EncoderKind::ResNetTiny),
            head: HeadConfig::new(HeadKind::Mlp).with_batch_norm(true),
        }
        .init(&device);
        let mlp = EncoderConfig::new(EncoderKind::Mlp)
            .with_input_dim(10)
            .init(&device);
        let resnet = ResNetConfig::resnet50().with_base_width(4).init(&device);
        let classifier = LinearClassifierConfig::new(7, 3).init(&device);
        for naming in [Naming::Burn, Naming::PyTorch] {
            assert_eq!(module_signature(&model, naming), collected(&model, naming));
            assert_eq!(module_signature(&mlp, naming), collected(&mlp, naming));
            assert_eq!(
                module_signature(&resnet, naming),
                collected(&resnet, naming)
            );
            assert_eq!(
                module_signature(&classifier, naming),
                collected(&classifier, naming)
            );
        }
        let signature = module_signature(&classifier, Naming::PyTorch);
        assert_eq!(signature["fc.weight"], vec![3, 7]);
        let signature = module_signature(&resnet, Naming::PyTorch);
        assert!(signature.contains_key("layer1.0.downsample.bn.running_var"));
        assert!(signature.contains_key("bn1.weight"));
    }
}
