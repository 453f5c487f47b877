//! The round-trip self-test's tree diff: adapter subtrees of the input
//! against the scratch decode, byte for byte, in upstream's report format.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::adapter::AdapterSet;
use crate::error::{IoResultExt, Result};
use crate::tree::checksums::list_regular_files;

/// Upstream reports at most this many paths.
pub const MAX_LINES: usize = 64;

fn same_contents(a: &Path, b: &Path) -> Result<bool> {
    let ma = std::fs::metadata(a).io_at(a, "stat")?;
    let mb = std::fs::metadata(b).io_at(b, "stat")?;
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let mut fa = File::open(a).io_at(a, "open")?;
    let mut fb = File::open(b).io_at(b, "open")?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let n = read_fill(&mut fa, &mut ba).io_at(a, "read")?;
        let m = read_fill(&mut fb, &mut bb).io_at(b, "read")?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_fill(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

fn list_or_empty(dir: &Path) -> Result<Vec<(Vec<u8>, std::path::PathBuf)>> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => list_regular_files(dir),
        _ => Ok(Vec::new()),
    }
}

/// Compare `<input>/<adapter>` with `<scratch>/<adapter>` for each enabled
/// adapter. `skip` lists relative subtrees (e.g. `dynamodb/t`) excluded by
/// a plan. Returns `None` when identical, else upstream's mismatch text.
pub fn diff_adapter_trees(
    input: &Path,
    scratch: &Path,
    adapters: AdapterSet,
    skip: &[String],
) -> Result<Option<String>> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for k in adapters.iter() {
        let name = k.name();
        let a = list_or_empty(&input.join(name))?;
        let b = list_or_empty(&scratch.join(name))?;
        let skipped = |rel: &[u8]| {
            let mut full = name.as_bytes().to_vec();
            full.push(b'/');
            full.extend_from_slice(rel);
            skip.iter().any(|s| {
                full.starts_with(s.as_bytes()) && matches!(full.get(s.len()), None | Some(b'/'))
            })
        };
        let mut sub: Vec<Vec<u8>> = Vec::new();
        let (mut i, mut j) = (0, 0);
        let line = |rel: &[u8], what: &str| {
            let mut l = name.as_bytes().to_vec();
            l.push(b'/');
            l.extend_from_slice(rel);
            l.extend_from_slice(what.as_bytes());
            l
        };
        while i < a.len() || j < b.len() {
            let ord = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.0.cmp(&y.0),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match ord {
                std::cmp::Ordering::Less => {
                    if !skipped(&a[i].0) {
                        sub.push(line(&a[i].0, " (missing in scratch)"));
                    }
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    sub.push(line(&b[j].0, " (missing in input)"));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if !same_contents(&a[i].1, &b[j].1)? {
                        sub.push(line(&a[i].0, " (bytes differ)"));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        sub.sort();
        lines.extend(sub);
        if lines.len() >= MAX_LINES {
            lines.truncate(MAX_LINES);
            lines.push(format!("... (truncated; first {MAX_LINES} paths shown)").into_bytes());
            break;
        }
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l);
        out.push(b'\n');
    }
    Ok(Some(String::from_utf8_lossy(&out).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn reports_in_upstream_format() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::create_dir_all(a.path().join("redis/db_0")).unwrap();
        fs::create_dir_all(b.path().join("redis/db_0")).unwrap();
        fs::write(a.path().join("redis/db_0/x"), b"1").unwrap();
        fs::write(b.path().join("redis/db_0/x"), b"2").unwrap();
        fs::write(a.path().join("redis/db_0/only_in"), b"").unwrap();
        fs::write(b.path().join("redis/db_0/only_out"), b"").unwrap();
        let d = diff_adapter_trees(a.path(), b.path(), AdapterSet::ALL, &[])
            .unwrap()
            .unwrap();
        assert_eq!(
            d,
            "redis/db_0/only_in (missing in scratch)\nredis/db_0/only_out (missing in input)\nredis/db_0/x (bytes differ)\n"
        );
        fs::write(b.path().join("redis/db_0/x"), b"1").unwrap();
        fs::remove_file(b.path().join("redis/db_0/only_out")).unwrap();
        let d = diff_adapter_trees(a.path(), b.path(), AdapterSet::ALL, &["redis/db_0".into()])
            .unwrap();
        assert!(d.is_none());
    }
}
