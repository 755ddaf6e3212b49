//! Kubernetes resource quantities (`500m`, `0.5`, `128Mi`, `1e9`, …) as exact integers.
//!
//! Kubernetes never goes through floating point here, and neither do we: the number is
//! kept as a decimal mantissa with powers of ten and two, and scaled with integer
//! arithmetic, rounding up to a whole unit as Kubernetes' `MilliValue()`/`Value()` do
//! (`0.1m` CPU is 1m; `1m` of memory is 1 byte).

/// Kubernetes' message for text that is not a quantity at all.
pub const FORMAT_MSG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const SUFFIX_MSG: &str = "unable to parse quantity's suffix";
const NUMERIC_MSG: &str = "unable to parse numeric part of quantity";
const TOO_LARGE_MSG: &str = "is too large (more than 2^63-1)";

/// A parsed quantity: `(-1)^negative × mantissa × 10^exp10 × 2^exp2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    exp2: u32,
}

/// More significant digits than this are refused: no real quantity has them, and it
/// keeps the mantissa well inside `u128`.
const MAX_DIGITS: usize = 30;

fn parse(q: &str) -> Result<Parsed, String> {
    let b = q.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &q[int_start..i];
    let mut frac_digits = "";
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &q[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(FORMAT_MSG.into());
    }
    let suffix = &q[i..];
    let (mut exp10, exp2) = parse_suffix(suffix)?;

    // All digits as one integer; the fraction moves the decimal exponent.
    let all: String = format!("{int_digits}{frac_digits}");
    let significant = all.trim_start_matches('0');
    let significant_trimmed = significant.trim_end_matches('0');
    let trailing_zeros = significant.len() - significant_trimmed.len();
    if significant_trimmed.len() > MAX_DIGITS {
        return Err(NUMERIC_MSG.into());
    }
    let mantissa: u128 = if significant_trimmed.is_empty() {
        0
    } else {
        significant_trimmed
            .parse()
            .map_err(|_| NUMERIC_MSG.to_string())?
    };
    let frac_len = i32::try_from(frac_digits.len()).map_err(|_| NUMERIC_MSG.to_string())?;
    let zeros = i32::try_from(trailing_zeros).map_err(|_| NUMERIC_MSG.to_string())?;
    exp10 = exp10
        .checked_sub(frac_len)
        .and_then(|e| e.checked_add(zeros))
        .ok_or_else(|| NUMERIC_MSG.to_string())?;
    Ok(Parsed {
        negative,
        mantissa,
        exp10,
        exp2,
    })
}

/// `(power of ten, power of two)` of a suffix: decimal SI, binary SI or an exponent.
fn parse_suffix(s: &str) -> Result<(i32, u32), String> {
    let fixed = match s {
        "" => Some((0, 0)),
        "n" => Some((-9, 0)),
        "u" => Some((-6, 0)),
        "m" => Some((-3, 0)),
        "k" => Some((3, 0)),
        "M" => Some((6, 0)),
        "G" => Some((9, 0)),
        "T" => Some((12, 0)),
        "P" => Some((15, 0)),
        "E" => Some((18, 0)),
        "Ki" => Some((0, 10)),
        "Mi" => Some((0, 20)),
        "Gi" => Some((0, 30)),
        "Ti" => Some((0, 40)),
        "Pi" => Some((0, 50)),
        "Ei" => Some((0, 60)),
        _ => None,
    };
    if let Some(f) = fixed {
        return Ok(f);
    }
    // A decimal exponent: e or E, then a signed integer.
    let Some(exp) = s.strip_prefix(['e', 'E']) else {
        return Err(
            if s.bytes().all(|c| b"eEinumkKMGTP+-0123456789".contains(&c)) {
                SUFFIX_MSG.into()
            } else {
                FORMAT_MSG.into()
            },
        );
    };
    let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(SUFFIX_MSG.into());
    }
    // Anything beyond a few hundred overflows or vanishes anyway; refusing long
    // exponents keeps the arithmetic simple.
    let e: i32 = exp.parse().map_err(|_| SUFFIX_MSG.to_string())?;
    if !(-400..=400).contains(&e) {
        return Err(SUFFIX_MSG.into());
    }
    Ok((e, 0))
}

/// `value × 10^extra10`, rounded up (away from zero) to an integer that fits `i64`.
fn scaled(p: Parsed, extra10: i32) -> Result<i64, String> {
    if p.mantissa == 0 {
        return Ok(0);
    }
    let too_large = || TOO_LARGE_MSG.to_string();
    let mut num = p
        .mantissa
        .checked_mul(1u128 << p.exp2)
        .ok_or_else(too_large)?;
    let mut e = p.exp10 + extra10;
    while e > 0 {
        let step = e.min(30);
        num = num
            .checked_mul(10u128.pow(step as u32))
            .ok_or_else(too_large)?;
        e -= step;
    }
    // ceil(ceil(a/b)/c) == ceil(a/(b·c)), so dividing in steps rounds exactly once.
    while e < 0 {
        let step = (-e).min(30);
        num = num.div_ceil(10u128.pow(step as u32));
        e += step;
    }
    let v = i64::try_from(num).map_err(|_| too_large())?;
    Ok(if p.negative { -v } else { v })
}

/// CPU in whole millicores, rounded up as Kubernetes does (`0.1m` → 1).
/// `"500m"` → 500, `"0.5"` → 500, `"2"` → 2000, `"1e3"` → 1 000 000.
pub fn cpu_millis(q: &str) -> Result<i64, String> {
    scaled(parse(q)?, 3)
}

/// Memory (or any plain quantity) in whole units, rounded up.
/// `"128Mi"` → 134 217 728, `"1G"` → 1 000 000 000, `"123k"` → 123 000.
pub fn memory_bytes(q: &str) -> Result<i64, String> {
    scaled(parse(q)?, 0)
}

/// Show millicores as Kubernetes users write them: `2`, `1.5`, `250m`.
pub fn format_cpu(millis: i64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else if millis % 100 == 0 && millis.abs() >= 1000 {
        format!("{}.{}", millis / 1000, (millis % 1000).abs() / 100)
    } else {
        format!("{millis}m")
    }
}

/// Show bytes in the largest binary unit that keeps one decimal: `7.6Gi`, `512Mi`, `100`.
pub fn format_bytes(bytes: i64) -> String {
    const UNITS: [(&str, i64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes.abs() >= size {
            let tenths = (bytes as i128 * 10 / size as i128) as i64;
            return if tenths % 10 == 0 {
                format!("{}{unit}", tenths / 10)
            } else {
                format!("{}.{}{unit}", tenths / 10, (tenths % 10).abs())
            };
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_table() {
        let table: &[(&str, i64)] = &[
            ("500m", 500),
            ("0.5", 500),
            ("2", 2000),
            ("1e3", 1_000_000),
            ("1E3", 1_000_000),
            ("1e-3", 1),
            ("0.1m", 1),
            ("1.0001", 1001),
            ("100n", 1),
            ("100u", 1),
            ("0", 0),
            ("0.0", 0),
            ("000", 0),
            (".5", 500),
            ("5.", 5000),
            ("+1", 1000),
            ("-1", -1000),
            ("-0.1m", -1),
            ("250m", 250),
            ("1k", 1_000_000),
            ("0.001", 1),
            ("64", 64_000),
        ];
        for (q, want) in table {
            assert_eq!(cpu_millis(q), Ok(*want), "{q}");
        }
    }

    #[test]
    fn memory_table() {
        let table: &[(&str, i64)] = &[
            ("128Mi", 134_217_728),
            ("1G", 1_000_000_000),
            ("1Gi", 1_073_741_824),
            ("1e9", 1_000_000_000),
            ("128974848", 128_974_848),
            ("129M", 129_000_000),
            ("123k", 123_000),
            ("1.5Gi", 1_610_612_736),
            ("0.5Ki", 512),
            ("1m", 1),
            ("1Ki", 1024),
            ("1Ti", 1 << 40),
            ("1Pi", 1 << 50),
            ("1Ei", 1 << 60),
            ("1E", 1_000_000_000_000_000_000),
            ("9223372036854775807", i64::MAX),
            ("6Mi", 6 * 1024 * 1024),
            ("1e+3", 1000),
            ("0.000000000000000000000000000000000000000001", 1),
            ("1e-400", 1),
            ("00000000000000000000000000000000000000001", 1),
        ];
        for (q, want) in table {
            assert_eq!(memory_bytes(q), Ok(*want), "{q}");
        }
    }

    #[test]
    fn bad_quantities() {
        for q in [
            "", "abc", "1.2.3", "1K", "1 Mi", " 1", "1 ", "Mi", ".", "1e", "1ee3", "--1", "1Mi3",
            "1mi", "1e3.5", "1e+", "0x10", "1,5", "½", "1e401", "1 2",
        ] {
            assert!(memory_bytes(q).is_err(), "{q:?}");
            assert!(cpu_millis(q).is_err(), "{q:?}");
        }
        for q in [
            "8Ei",
            "9223372036854775808",
            "1e19",
            "1e400",
            "99999999999999999999999999999",
        ] {
            assert_eq!(memory_bytes(q), Err(TOO_LARGE_MSG.to_string()), "{q}");
        }
        assert_eq!(cpu_millis("1e17"), Err(TOO_LARGE_MSG.to_string()));
        assert_eq!(cpu_millis("x"), Err(FORMAT_MSG.to_string()));
        assert!(memory_bytes(&"1".repeat(40)).is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(format_cpu(1500), "1.5");
        assert_eq!(format_cpu(250), "250m");
        assert_eq!(format_cpu(1250), "1250m");
        assert_eq!(format_bytes(8 * (1 << 30)), "8Gi");
        assert_eq!(format_bytes(8_160_000_000), "7.5Gi");
        assert_eq!(format_bytes(512 << 20), "512Mi");
        assert_eq!(format_bytes(100), "100");
    }
}
