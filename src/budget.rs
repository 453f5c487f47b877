//! Byte sizes and memory budgets: the size syntax every flag and plan key
//! accepts, the default per-job budget, and how one budget is divided
//! among the parts of a job that hold memory. A leaf module: it imports
//! nothing from the crate, so the CLI, the plan and the executor can all
//! depend on it.
//!
//! The rule, for one job with budget `B` (`--memory-budget`, plan
//! `memory_budget`):
//!
//! * **encode**: three quarters of `B` for the entry sorter's arena, one
//!   quarter for the adapters' own buffering (one adapter runs at a time,
//!   so each gets the whole quarter);
//! * **decode** (and the self-test's decode, which runs after the encode
//!   sorter is freed): one eighth of `B` for the tree sink (half for the
//!   bytes queued to its writer threads, half for its path sorter), the
//!   rest for the decoders; every enabled decoder holds its staged records
//!   at the same time, so each gets an equal share of that rest, `7B / 8n`
//!   for `n` enabled decoders, whatever the dump's mix.
//!
//! On top of the budget come fixed-size buffers (run readers and writers,
//! the `.fsm` reader, one S3 chunk), documented in docs/architecture.md.

/// The default budget as typed on the command line and in plans.
pub const DEFAULT_MEMORY_BUDGET_STR: &str = "256MiB";

/// The default per-job budget, in bytes (parsed from its string form).
pub const DEFAULT_MEMORY_BUDGET: u64 = match parse_size_bytes(DEFAULT_MEMORY_BUDGET_STR.as_bytes())
{
    Ok(n) => n,
    Err(_) => panic!("DEFAULT_MEMORY_BUDGET_STR is not a size"),
};

/// Budgets below this are raised to it: smaller ones would only make the
/// sorters spill tiny runs.
pub const MIN_MEMORY_BUDGET: u64 = 1 << 20;

/// What [`parse_size`] accepts, as a JSON Schema pattern (the plan's
/// `memory_budget` strings): digits and an optional B/KiB/MiB/GiB unit
/// (case-insensitive; `K`, `KB`, `KiB` are all binary multiples).
pub const SIZE_PATTERN: &str = "^\\s*[0-9]+\\s*([bB]|[kKmMgG]([iI]?[bB])?)?\\s*$";

/// Why a size string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeError {
    Number,
    Unit,
    Overflow,
}

const fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !first.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !last.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

const fn unit_multiplier(unit: &[u8]) -> Option<u64> {
    const fn lower(unit: &[u8], i: usize) -> u8 {
        unit[i].to_ascii_lowercase()
    }
    let shift = match unit.len() {
        0 => return Some(1),
        1..=3 => match lower(unit, 0) {
            b'b' if unit.len() == 1 => 0,
            b'k' => 10,
            b'm' => 20,
            b'g' => 30,
            _ => return None,
        },
        _ => return None,
    };
    // After the prefix letter: nothing, "b", or "ib".
    let ok = match unit.len() {
        1 => true,
        2 => lower(unit, 1) == b'b',
        _ => lower(unit, 1) == b'i' && lower(unit, 2) == b'b',
    };
    if ok { Some(1 << shift) } else { None }
}

/// Digits, optional spaces, an optional unit (`B`, `K`/`KB`/`KiB`,
/// `M`/`MB`/`MiB`, `G`/`GB`/`GiB`, case-insensitive, all binary).
const fn parse_size_bytes(s: &[u8]) -> Result<u64, SizeError> {
    let t = trim(s);
    let mut i = 0;
    let mut n: u64 = 0;
    while i < t.len() && t[i].is_ascii_digit() {
        n = match n.checked_mul(10) {
            Some(v) => match v.checked_add((t[i] - b'0') as u64) {
                Some(v) => v,
                None => return Err(SizeError::Number),
            },
            None => return Err(SizeError::Number),
        };
        i += 1;
    }
    if i == 0 {
        return Err(SizeError::Number);
    }
    let (_, unit) = t.split_at(i);
    let Some(mul) = unit_multiplier(trim(unit)) else {
        return Err(SizeError::Unit);
    };
    match n.checked_mul(mul) {
        Some(v) => Ok(v),
        None => Err(SizeError::Overflow),
    }
}

/// Parse a byte size such as `256MiB`, `1G`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_size_bytes(s.as_bytes()).map_err(|e| match e {
        SizeError::Number => format!("invalid size {s:?}"),
        SizeError::Unit => format!("invalid size unit in {s:?} (use B, KiB, MiB, GiB)"),
        SizeError::Overflow => format!("size {s:?} overflows"),
    })
}

/// An encode job's budget, divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeBudget {
    /// The entry sorter's arena.
    pub sorter: u64,
    /// Each adapter encoder's own buffering.
    pub adapters: u64,
}

impl EncodeBudget {
    pub fn of(total: u64) -> EncodeBudget {
        let total = total.max(MIN_MEMORY_BUDGET);
        let adapters = total / 4;
        EncodeBudget {
            sorter: total - adapters,
            adapters,
        }
    }
}

/// A decode job's budget, divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeBudget {
    /// Bytes queued for the tree sink's threads.
    pub tree_queue: u64,
    /// The tree sink's path sorter (CHECKSUMS records, or the produced
    /// and input paths of a comparison).
    pub tree_sort: u64,
    /// All the decoders together (see [`decoder_share`]).
    pub decoders: u64,
}

impl DecodeBudget {
    pub fn of(total: u64) -> DecodeBudget {
        let total = total.max(MIN_MEMORY_BUDGET);
        let tree = total / 8;
        let tree_queue = tree / 2;
        DecodeBudget {
            tree_queue,
            tree_sort: tree - tree_queue,
            decoders: total - tree,
        }
    }
}

/// One decoder's share of a decode budget when `decoders` are enabled.
pub fn decoder_share(total: u64, decoders: usize) -> u64 {
    total / (decoders.max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_pattern_accepts_what_parse_size_accepts() {
        let schema = serde_json::json!({ "type": "string", "pattern": SIZE_PATTERN });
        let v = jsonschema::validator_for(&schema).unwrap();
        for s in [
            "1", "64MiB", " 2 gb ", "3k", "5B", "7kib", "8 MB", "1.5MiB", "MiB", "-1", "4 TiB",
            "1e3", "12 3", "0x10", "",
        ] {
            let text = serde_json::json!(s);
            assert_eq!(v.is_valid(&text), parse_size(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn decode_budget_parts_add_up() {
        for total in [
            0,
            MIN_MEMORY_BUDGET,
            64 << 20,
            DEFAULT_MEMORY_BUDGET,
            3 << 30,
        ] {
            let b = DecodeBudget::of(total);
            assert_eq!(
                b.tree_queue + b.tree_sort + b.decoders,
                total.max(MIN_MEMORY_BUDGET)
            );
            assert!(b.tree_queue > 0 && b.decoders >= 7 * b.tree_queue);
        }
        assert_eq!(DecodeBudget::of(64 << 20).tree_queue, 4 << 20);
    }

    #[test]
    fn sizes() {
        let ok = |s: &str, n: u64| assert_eq!(parse_size(s), Ok(n), "{s:?}");
        ok("4096", 4096);
        ok(" 7 ", 7);
        ok("3b", 3);
        ok("1k", 1 << 10);
        ok("1 KB", 1 << 10);
        ok("2KiB", 2 << 10);
        ok("256MiB", 256 << 20);
        ok("1g", 1 << 30);
        ok("2 gib", 2 << 30);
        ok("0", 0);
        for bad in [
            "", " ", "MiB", "-1", "1.5G", "1T", "1ki", "1bb", "1mibb", "1 M B", "1kib x",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_size("18446744073709551616")
                .unwrap_err()
                .contains("invalid size")
        );
        assert!(
            parse_size("17179869184G")
                .unwrap_err()
                .contains("overflows")
        );
        assert!(parse_size("1X").unwrap_err().contains("unit"));
    }

    #[test]
    fn default_is_its_string() {
        assert_eq!(DEFAULT_MEMORY_BUDGET, 256 << 20);
        assert_eq!(
            parse_size(DEFAULT_MEMORY_BUDGET_STR),
            Ok(DEFAULT_MEMORY_BUDGET)
        );
    }

    #[test]
    fn splits_add_up_to_the_budget() {
        for total in [
            0,
            1,
            MIN_MEMORY_BUDGET,
            64 << 20,
            DEFAULT_MEMORY_BUDGET,
            u64::MAX,
        ] {
            let e = EncodeBudget::of(total);
            assert_eq!(e.sorter + e.adapters, total.max(MIN_MEMORY_BUDGET));
            assert!(e.sorter >= 3 * e.adapters);
            for n in 1..=4 {
                assert!(decoder_share(total, n) * n as u64 <= total);
            }
        }
        assert_eq!(decoder_share(64 << 20, 4), 16 << 20);
        assert_eq!(decoder_share(64 << 20, 0), 64 << 20);
    }
}
