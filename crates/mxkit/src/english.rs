//! Counts and lists in the messages of every report (route's warnings
//! and failures, check's findings): `1 address`, `2 addresses`; `a and b`.

/// `n` and the noun, singular or plural as `n` asks: `1 address`,
/// `2 addresses`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Names as an English list: `a`, `a and b`, `a, b and c`.
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
