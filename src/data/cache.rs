//! Whether a folder's (or tar shards') decoded images are kept in memory or streamed,
//! and the memory budget that decides it (`--data-memory`).

/// Where the decoded images of a folder (or tar shards) live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// In memory when the decoded training-size images of both splits fit the memory
    /// budget (`--data-memory`, default [`DEFAULT_DATA_MEMORY`]), streamed otherwise.
    #[default]
    Auto,
    /// Decoded up front and kept in memory, whatever their size.
    Ram,
    /// Streamed: listed at start-up, read and decoded when a batch needs them.
    None,
}

impl CacheMode {
    /// The spec option's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Ram => "ram",
            Self::None => "none",
        }
    }

    /// Parses `auto`, `ram` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "ram" => Some(Self::Ram),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Whether `images` decoded images of `bytes_each` bytes are kept in memory under a
    /// budget of `budget` bytes.
    pub fn in_memory(self, images: usize, bytes_each: usize, budget: u64) -> bool {
        match self {
            Self::Ram => true,
            Self::None => false,
            Self::Auto => (images as u64).saturating_mul(bytes_each as u64) <= budget,
        }
    }
}

/// The default memory budget of `cache=auto` (4 GiB).
pub const DEFAULT_DATA_MEMORY: u64 = 4 << 30;

/// Parses a memory size: a whole number of bytes with an optional unit `K`, `M`, `G`,
/// `T` (powers of 1024, with or without `iB`/`B`), e.g. `4GiB`, `512M`, `1000000`.
///
/// # Errors
/// A message naming the value and the expected form.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => u32::MAX,
    };
    num.parse::<u64>()
        .ok()
        .filter(|_| shift != u32::MAX)
        .and_then(|n| n.checked_mul(1u64 << shift.min(63)))
        .ok_or_else(|| {
            format!("memory size '{s}': expected a whole number with an optional unit K, M, G or T (powers of 1024), e.g. 4GiB")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse() {
        assert_eq!(parse_memory("4GiB"), Ok(4 << 30));
        assert_eq!(parse_memory("512M"), Ok(512 << 20));
        assert_eq!(parse_memory("1000"), Ok(1000));
        assert_eq!(parse_memory("3 kb"), Ok(3072));
        for bad in ["", "GiB", "4 GB x", "-1G", "1.5G", "99999999999T"] {
            assert!(
                parse_memory(bad).unwrap_err().contains("memory size"),
                "{bad}"
            );
        }
        assert!(CacheMode::Auto.in_memory(10, 100, 1000));
        assert!(!CacheMode::Auto.in_memory(11, 100, 1000));
        assert!(CacheMode::Ram.in_memory(11, 100, 0));
        assert!(!CacheMode::None.in_memory(0, 0, 1000));
    }
}
