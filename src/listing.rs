//! Lists in messages: a few items named, the rest counted.

/// For messages: the first `max` items, comma-separated, with a count of the rest
/// (`a, b, c, and 4 more`).
pub(crate) fn listing<T: std::fmt::Display>(
    items: impl ExactSizeIterator<Item = T>,
    max: usize,
) -> String {
    let total = items.len();
    let mut text: Vec<String> = items.take(max).map(|item| item.to_string()).collect();
    if total > max {
        text.push(format!("and {} more", total - max));
    }
    text.join(", ")
}
