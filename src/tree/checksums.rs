//! `CHECKSUMS` in sha256sum(1) format: every regular file under the root,
//! sorted bytewise by relative path, GNU `\`-escaping for `\n`, `\r`, `\`.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Area, Error, IoResultExt, Kind, Result};

pub const FILE_NAME: &str = "CHECKSUMS";
const MAX_LINE: usize = 8 * 1024;

/// Every regular file below `root` as (relative path bytes with `/`, full
/// path), not following symlinks, sorted bytewise.
pub fn list_regular_files(root: &Path) -> Result<Vec<(Vec<u8>, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![(Vec::new(), root.to_path_buf())];
    while let Some((rel, dir)) = stack.pop() {
        for ent in fs::read_dir(&dir).io_at(&dir, "read directory")? {
            let ent = ent.io_at(&dir, "read directory")?;
            let ft = ent.file_type().io_at(&ent.path(), "stat")?;
            let mut r = rel.clone();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(ent.file_name().as_bytes());
            if ft.is_dir() {
                stack.push((r, ent.path()));
            } else if ft.is_file() {
                out.push((r, ent.path()));
            }
        }
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

pub fn sha256_file(path: &Path) -> Result<[u8; 32]> {
    let mut f = fs::File::open(path).io_at(path, "open")?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).io_at(path, "read")?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// One line for `path` (GNU escaping applies per rune, so invalid UTF-8
/// becomes U+FFFD only on escaped lines, as upstream does).
pub fn format_line(out: &mut Vec<u8>, digest_hex: &str, rel: &[u8]) {
    let needs = rel.iter().any(|&b| matches!(b, b'\n' | b'\r' | b'\\'));
    if needs {
        out.push(b'\\');
    }
    out.extend_from_slice(digest_hex.as_bytes());
    out.extend_from_slice(b"  ");
    if !needs {
        out.extend_from_slice(rel);
    } else {
        for chunk in rel.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\n' => out.extend_from_slice(b"\\n"),
                    '\r' => out.extend_from_slice(b"\\r"),
                    '\\' => out.extend_from_slice(b"\\\\"),
                    c => {
                        let mut b = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                    }
                }
            }
            for _ in chunk.invalid() {
                out.extend_from_slice("\u{FFFD}".as_bytes());
            }
        }
    }
    out.push(b'\n');
}

/// The CHECKSUMS body for `root` (the file itself excluded).
pub fn render(root: &Path) -> Result<Vec<u8>> {
    let files: Vec<_> = list_regular_files(root)?
        .into_iter()
        .filter(|(rel, _)| rel.as_slice() != FILE_NAME.as_bytes())
        .collect();
    let digests: Vec<[u8; 32]> = files
        .par_iter()
        .map(|(_, p)| sha256_file(p))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for ((rel, _), d) in files.iter().zip(digests) {
        format_line(&mut out, &hex::encode(d), rel);
    }
    Ok(out)
}

/// Write `root/CHECKSUMS`.
pub fn write(root: &Path) -> Result<()> {
    let body = render(root)?;
    crate::fsutil::write_file_synced(&root.join(FILE_NAME), &body)
}

/// Split one line into (digest hex, relative path bytes).
pub fn split_line(line: &[u8]) -> Result<(String, Vec<u8>), String> {
    let (escaped, rest) = match line.first() {
        Some(b'\\') => (true, &line[1..]),
        _ => (false, line),
    };
    if rest.len() < 67 {
        return Err("line too short".into());
    }
    let digest = &rest[..64];
    if !digest
        .iter()
        .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err("digest is not 64 lowercase hex characters".into());
    }
    if &rest[64..66] != b"  " && &rest[64..66] != b" *" {
        return Err("missing two-space separator".into());
    }
    let p = &rest[66..];
    let path = if escaped {
        let mut out = Vec::with_capacity(p.len());
        let mut i = 0;
        while i < p.len() {
            if p[i] == b'\\' {
                match p.get(i + 1) {
                    Some(b'n') => out.push(b'\n'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b'\\') => out.push(b'\\'),
                    _ => return Err("bad escape in path".into()),
                }
                i += 2;
            } else {
                out.push(p[i]);
                i += 1;
            }
        }
        out
    } else {
        p.to_vec()
    };
    Ok((String::from_utf8(digest.to_vec()).expect("hex"), path))
}

/// Verify `root/CHECKSUMS` against the tree. Stops at the first failure,
/// which names the line of `CHECKSUMS`.
pub fn verify(root: &Path) -> Result<usize> {
    verify_lines(root).map_err(|e| e.in_area(Area::Checksums))
}

fn verify_lines(root: &Path) -> Result<usize> {
    let path = root.join(FILE_NAME);
    let f = fs::File::open(&path).io_at(&path, "open")?;
    let mut br = BufReader::new(f);
    let mut line = Vec::new();
    let mut n = 0usize;
    let mut verified = 0usize;
    loop {
        line.clear();
        let got = br.read_until(b'\n', &mut line).io_at(&path, "read")?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let bad = |kind: Kind, msg: String| {
            Err(Error::data_at(&path, format!("line {n}: {msg}"))
                .with_kind(kind)
                .at_line(n as u64))
        };
        if line.len() > MAX_LINE {
            return bad(Kind::InvalidRecord, format!("longer than {MAX_LINE} bytes"));
        }
        if line.is_empty() {
            continue;
        }
        let (digest, rel) = match split_line(&line) {
            Ok(x) => x,
            Err(e) => return bad(Kind::InvalidRecord, e.to_string()),
        };
        let relp = Path::new(std::ffi::OsStr::from_bytes(&rel));
        if rel.is_empty() || rel == b"." {
            return bad(Kind::InvalidRecord, "empty path".into());
        }
        if relp.is_absolute()
            || relp.components().any(|c| {
                !matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            })
        {
            return bad(
                Kind::UnsafePath,
                format!("path escapes the tree: {}", relp.display()),
            );
        }
        // Refuse symlinks on every component.
        let mut cur = root.to_path_buf();
        for comp in relp.components() {
            cur.push(comp);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return bad(Kind::NonRegular, format!("{} is a symlink", cur.display()));
                }
                Ok(_) => {}
                Err(_) => {
                    return bad(
                        Kind::MissingFile,
                        format!("{} missing on disk", relp.display()),
                    );
                }
            }
        }
        let got = hex::encode(sha256_file(&cur)?);
        if got != digest {
            return bad(
                Kind::ChecksumMismatch,
                format!(
                    "{} checksum mismatch (listed {digest}, actual {got})",
                    relp.display()
                ),
            );
        }
        verified += 1;
    }
    if verified == 0 {
        return Err(Error::data_at(&path, "no checksummed files").with_kind(Kind::MissingFile));
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_gnu() {
        let d = "0".repeat(64);
        let mut out = Vec::new();
        format_line(&mut out, &d, b"a/b");
        format_line(&mut out, &d, b"a\nb\\c\xff");
        let want = format!("{d}  a/b\n\\{d}  a\\nb\\\\c\u{FFFD}\n");
        assert_eq!(String::from_utf8(out).unwrap(), want);
        let (_, p) = split_line(format!("\\{d}  a\\nb\\\\c").as_bytes()).unwrap();
        assert_eq!(p, b"a\nb\\c");
        assert!(split_line(format!("\\{d}  a\\").as_bytes()).is_err());
    }

    #[test]
    fn listing_is_bytewise_sorted_and_verifies() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("a")).unwrap();
        fs::write(t.path().join("a/b"), b"1").unwrap();
        fs::write(t.path().join("a-b"), b"2").unwrap();
        fs::write(t.path().join("MANIFEST.json"), b"3").unwrap();
        write(t.path()).unwrap();
        let body = fs::read_to_string(t.path().join(FILE_NAME)).unwrap();
        let names: Vec<&str> = body.lines().map(|l| &l[66..]).collect();
        assert_eq!(names, ["MANIFEST.json", "a-b", "a/b"]);
        assert_eq!(verify(t.path()).unwrap(), 3);
        fs::write(t.path().join("a/b"), b"tampered").unwrap();
        assert!(verify(t.path()).is_err());
    }
}
