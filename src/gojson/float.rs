//! Go's float64 text forms (`strconv.FormatFloat` with precision -1, and
//! `encoding/json`'s choice between `'f'` and `'e'`).

/// Shortest round-trip decimal digits of a finite `v` and the decimal-point
/// position: `v = 0.DIGITS × 10^dp` (Go's `decimalSlice` convention).
/// Returns `(negative, digits, dp)`; zero has digits `"0"` and dp 1.
pub fn shortest_decimal(v: f64) -> (bool, String, i32) {
    // Rust's `{:e}` prints the shortest round-trip digits, like Go's Ryu path.
    let s = format!("{:e}", v.abs());
    let (mant, exp) = s.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    (v.is_sign_negative(), digits, exp + 1)
}

fn fmt_e(neg: bool, digits: &str, dp: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    let exp = if digits == "0" { 0 } else { dp - 1 };
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    s
}

fn fmt_f(neg: bool, digits: &str, dp: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if dp <= 0 {
        s.push_str("0.");
        for _ in 0..(-dp) {
            s.push('0');
        }
        s.push_str(digits);
    } else {
        let dp = dp as usize;
        if digits.len() <= dp {
            s.push_str(digits);
            for _ in digits.len()..dp {
                s.push('0');
            }
        } else {
            s.push_str(&digits[..dp]);
            s.push('.');
            s.push_str(&digits[dp..]);
        }
    }
    s
}

/// `strconv.FormatFloat(v, 'g', -1, 64)`: `%e` when the exponent is < -4 or
/// ≥ 6 (Go's threshold for shortest precision), else `%f`; `+Inf`, `-Inf`, `NaN`.
pub fn format_float_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let (neg, digits, dp) = shortest_decimal(v);
    let exp = dp - 1;
    if digits == "0" {
        return if neg { "-0".into() } else { "0".into() };
    }
    if !(-4..6).contains(&exp) {
        fmt_e(neg, &digits, dp)
    } else {
        fmt_f(neg, &digits, dp)
    }
}

/// A float64 as `encoding/json` writes it, or `None` for NaN/±Inf (which
/// Go refuses to marshal).
pub fn format_json_float(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    let abs = v.abs();
    let (neg, digits, dp) = shortest_decimal(v);
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = fmt_e(neg, &digits, dp);
        // Go trims one leading zero of a negative two-digit exponent.
        let n = s.len();
        let b = s.as_bytes();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
        Some(s)
    } else if digits == "0" {
        Some(if neg { "-0".into() } else { "0".into() })
    } else {
        Some(fmt_f(neg, &digits, dp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_float_vectors() {
        // core.md §3.13.3
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.5, "1.5"),
            (100.0, "100"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789.0, "123456789"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (-2.5e-10, "-2.5e-10"),
        ];
        for (v, want) in cases {
            assert_eq!(format_json_float(*v).unwrap(), *want, "{v:e}");
        }
        assert!(format_json_float(f64::NAN).is_none());
    }

    #[test]
    fn g_format_vectors() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e-7, "1e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (v, want) in cases {
            assert_eq!(format_float_g(*v), *want, "{v:e}");
        }
    }
}
