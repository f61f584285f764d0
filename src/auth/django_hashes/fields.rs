//! The fields Django's hashers write, read as strictly as Django formats them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A count as Python's `%d` writes it: digits only, no sign, no leading zero. A count too
/// large for `u64` saturates, so the caller's limit refuses it like any other large one.
pub fn decimal(field: &str) -> Option<u64> {
    let canonical = !field.is_empty()
        && field.bytes().all(|b| b.is_ascii_digit())
        && (field == "0" || !field.starts_with('0'));
    canonical
        .then(|| field.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// Python's `base64.b64encode`: the standard alphabet, padded.
pub fn base64(field: &str) -> Option<Vec<u8>> {
    STANDARD.decode(field).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_read_only_as_python_writes_them() {
        assert_eq!(decimal("1000000"), Some(1_000_000));
        assert_eq!(decimal("0"), Some(0));
        for odd in ["", "+5", "-5", "05", " 5", "5 ", "1_000", "1e6", "٣"] {
            assert_eq!(decimal(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn a_decimal_too_large_for_u64_saturates() {
        assert_eq!(decimal("99999999999999999999999999"), Some(u64::MAX));
    }
}
