//! Which jobs of a plan this invocation runs: `--only` and `--shard`.
//!
//! A shard is chosen from a hash of the job id alone, so adding, removing or
//! reordering other jobs never moves a job to another shard; only changing
//! the shard count does.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::plan::ResolvedJob;

/// The environment variable a Kubernetes Indexed Job sets (0-based).
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// One shard of `count`; `index` is 1-based (`hash:1/3` … `hash:3/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hash:{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Parse `hash:M/N` (1 ≤ M ≤ N), or `hash:N`, which takes the shard from
    /// `completion_index` (the value of `JOB_COMPLETION_INDEX`, 0-based).
    pub fn parse(spec: &str, completion_index: Option<&str>) -> Result<Shard> {
        let bad = |why: &str| {
            Error::usage(format!(
                "--shard {spec:?}: {why} (expected hash:M/N with 1 <= M <= N, or hash:N with {COMPLETION_INDEX_ENV} set)"
            ))
        };
        let body = spec
            .trim()
            .strip_prefix("hash:")
            .ok_or_else(|| bad("unknown sharding scheme"))?;
        let num = |s: &str, what: &str| -> Result<u32> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad(&format!("{what} is not a number")));
            }
            s.parse::<u32>()
                .map_err(|_| bad(&format!("{what} is too large")))
        };
        let (index, count) = match body.split_once('/') {
            Some((m, n)) => (num(m, "M")?, num(n, "N")?),
            None => {
                let count = num(body, "N")?;
                let raw = completion_index.ok_or_else(|| {
                    bad(&format!(
                        "no shard index given and {COMPLETION_INDEX_ENV} is not set"
                    ))
                })?;
                let zero_based = raw
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| bad(&format!("{COMPLETION_INDEX_ENV}={raw:?} is not a number")))?;
                (zero_based.saturating_add(1), count)
            }
        };
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index == 0 || index > count {
            return Err(bad(&format!("shard {index} is outside 1..={count}")));
        }
        Ok(Shard { index, count })
    }

    pub fn contains(&self, id: &str) -> bool {
        shard_of(id, self.count) == self.index
    }
}

/// The 1-based shard of `id` among `count`: the first 8 bytes of
/// SHA-256(id), big-endian, modulo `count`, plus one. Reproducible with
/// `printf %s "$id" | sha256sum`.
pub fn shard_of(id: &str, count: u32) -> u32 {
    let d = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    let h = u64::from_be_bytes(first);
    (h % u64::from(count.max(1))) as u32 + 1
}

/// `*` matches any run of characters, `?` one character; everything else
/// is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The plan's jobs matching `only` (ids or globs; empty = all) and the
/// shard, in plan order. A pattern that matches no job is a usage error, so
/// a typo never silently runs nothing.
pub fn select<'a>(
    jobs: &'a [ResolvedJob],
    only: &[String],
    shard: Option<Shard>,
) -> Result<Vec<&'a ResolvedJob>> {
    let patterns: Vec<&str> = only
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let unmatched: Vec<&str> = patterns
        .iter()
        .copied()
        .filter(|p| !jobs.iter().any(|j| glob_match(p, &j.id)))
        .collect();
    if !unmatched.is_empty() {
        let known: Vec<&str> = jobs.iter().take(10).map(|j| j.id.as_str()).collect();
        return Err(Error::usage(format!(
            "--only: no job matches {} (plan ids: {}{})",
            unmatched.join(", "),
            known.join(", "),
            if jobs.len() > known.len() {
                ", …"
            } else {
                ""
            }
        )));
    }
    Ok(jobs
        .iter()
        .filter(|j| patterns.is_empty() || patterns.iter().any(|p| glob_match(p, &j.id)))
        .filter(|j| shard.is_none_or(|s| s.contains(&j.id)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::EncodeJob;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn job(id: &str) -> ResolvedJob {
        crate::testing::resolved_job(id, EncodeJob::new("in", format!("{id}.fsm")))
    }

    #[test]
    fn shard_spec_parsing() {
        assert_eq!(
            Shard::parse("hash:1/3", None).unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert_eq!(
            Shard::parse("hash:3/3", Some("0")).unwrap(),
            Shard { index: 3, count: 3 },
            "an explicit index wins over the environment"
        );
        assert_eq!(
            Shard::parse("hash:4", Some("0")).unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert_eq!(
            Shard::parse("hash:4", Some("3")).unwrap(),
            Shard { index: 4, count: 4 }
        );
        for bad in [
            "hash:0/3",
            "hash:4/3",
            "hash:1/0",
            "mod:1/2",
            "hash:a/2",
            "hash:-1/2",
            "hash:",
            "1/2",
            "hash:1/99999999999",
        ] {
            assert!(Shard::parse(bad, None).is_err(), "{bad}");
        }
        assert!(Shard::parse("hash:4", None).is_err());
        assert!(Shard::parse("hash:4", Some("4")).is_err());
        assert!(Shard::parse("hash:4", Some("x")).is_err());
        assert_eq!(
            Shard::parse("hash:2/5", None).unwrap().to_string(),
            "hash:2/5"
        );
    }

    #[test]
    fn shard_hash_is_pinned() {
        // sha256("cluster-1") starts with these 8 bytes; pinning the value
        // keeps the assignment stable across releases.
        let d = Sha256::digest(b"cluster-1");
        let h = u64::from_be_bytes(d[..8].try_into().unwrap());
        assert_eq!(shard_of("cluster-1", 7), (h % 7) as u32 + 1);
        assert_eq!(shard_of("cluster-1", 1), 1);
        let known = [("a", 3, 2), ("b", 3, 2), ("cluster-1", 2, 1)];
        for (id, n, want) in known {
            assert_eq!(shard_of(id, n), want, "{id} of {n}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("a*", "abc"));
        assert!(glob_match("*c", "abc"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b", "ac"));
        assert!(!glob_match("abc", "abcd"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn only_selects_in_plan_order_and_rejects_typos() {
        let jobs = vec![job("b"), job("a"), job("c-1"), job("c-2")];
        let ids = |v: Vec<&ResolvedJob>| v.iter().map(|j| j.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(select(&jobs, &[], None).unwrap()),
            ["b", "a", "c-1", "c-2"]
        );
        let only = vec!["a".to_string(), "b".to_string()];
        assert_eq!(ids(select(&jobs, &only, None).unwrap()), ["b", "a"]);
        let only = vec!["c-*".to_string()];
        assert_eq!(ids(select(&jobs, &only, None).unwrap()), ["c-1", "c-2"]);
        let only = vec!["a".to_string(), "zz".to_string()];
        let e = select(&jobs, &only, None).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("zz"), "{e}");
    }

    proptest! {
        #[test]
        fn shards_partition_and_are_stable(
            ids in proptest::collection::btree_set("[a-z0-9-]{1,12}", 1..40),
            extra in proptest::collection::btree_set("[A-Z]{1,6}", 0..10),
            n in 1u32..8,
        ) {
            let jobs: Vec<ResolvedJob> = ids.iter().map(|i| job(i)).collect();
            let mut seen = BTreeSet::new();
            let mut before = Vec::new();
            for m in 1..=n {
                let s = Shard { index: m, count: n };
                let got = select(&jobs, &[], Some(s)).unwrap();
                for j in got {
                    prop_assert!(seen.insert(j.id.clone()), "{} in two shards", j.id);
                    before.push((j.id.clone(), m));
                }
            }
            prop_assert_eq!(seen.len(), jobs.len());
            // Adding other jobs (and reversing the order) moves no job.
            let mut edited: Vec<ResolvedJob> = ids.iter().rev().map(|i| job(i)).collect();
            edited.extend(extra.iter().map(|i| job(i)));
            for (id, m) in before {
                let s = Shard { index: m, count: n };
                let got = select(&edited, &[], Some(s)).unwrap();
                prop_assert!(got.iter().any(|j| j.id == id));
            }
        }
    }
}
