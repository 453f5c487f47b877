//! CHECKSUMS verified while an archive is unpacked: every regular file is
//! hashed as it is written and checked against CHECKSUMS (which a sorted
//! archive carries before any other file; files that come earlier wait
//! until it arrives). The rules are those of a CHECKSUMS check on disk
//! ([`crate::tree::checksums::verify`]) plus upstream's "every file is
//! listed", without reading the tree back.

use std::collections::HashMap;
use std::path::{Component, Path};

use super::{Problem, show_name};
use crate::error::{Error, Result};
use crate::tree::checksums;

const MAX_LINE: usize = 8 * 1024;

struct Line {
    number: usize,
    digest: [u8; 32],
    seen: bool,
}

/// Collects digests and CHECKSUMS; [`StreamVerifier::finish`] says whether
/// they agree.
#[derive(Default)]
pub(super) struct StreamVerifier {
    listed: Option<HashMap<Vec<u8>, Line>>,
    pending: Vec<(Vec<u8>, [u8; 32])>,
}

fn checksums_error(msg: impl std::fmt::Display) -> Error {
    Error::data(format!("{}: {msg}", checksums::FILE_NAME))
}

/// A CHECKSUMS path with `.` and empty components dropped; refused if it
/// is empty or leaves the tree.
fn clean_listed(rel: &[u8], n: usize) -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    if rel.is_empty() || rel == b"." {
        return Err(checksums_error(format!("line {n}: empty path")));
    }
    let p = Path::new(std::ffi::OsStr::from_bytes(rel));
    let mut out = Vec::with_capacity(rel.len());
    for c in p.components() {
        match c {
            Component::Normal(s) => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(s.as_bytes());
            }
            Component::CurDir => {}
            _ => {
                return Err(checksums_error(format!(
                    "line {n}: path escapes the tree: {}",
                    p.display()
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(checksums_error(format!("line {n}: empty path")));
    }
    Ok(out)
}

fn parse(body: &[u8]) -> Result<HashMap<Vec<u8>, Line>> {
    let mut map: HashMap<Vec<u8>, Line> = HashMap::new();
    let mut lines: Vec<&[u8]> = body.split(|&c| c == b'\n').collect();
    if body.ends_with(b"\n") {
        lines.pop();
    }
    for (i, line) in lines.into_iter().enumerate() {
        let n = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE {
            return Err(checksums_error(format!(
                "line {n}: longer than {MAX_LINE} bytes"
            )));
        }
        if line.is_empty() {
            continue;
        }
        let (hex_digest, rel) =
            checksums::split_line(line).map_err(|e| checksums_error(format!("line {n}: {e}")))?;
        let rel = clean_listed(&rel, n)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(&hex_digest, &mut digest).expect("64 hex digits");
        match map.get(&rel) {
            Some(first) if first.digest != digest => {
                return Err(checksums_error(format!(
                    "line {n}: {} is listed again (line {}) with another digest",
                    show_name(&rel),
                    first.number
                )));
            }
            Some(_) => {}
            None => {
                map.insert(
                    rel,
                    Line {
                        number: n,
                        digest,
                        seen: false,
                    },
                );
            }
        }
    }
    if map.is_empty() {
        return Err(checksums_error("no checksummed files"));
    }
    Ok(map)
}

fn check(listed: &mut HashMap<Vec<u8>, Line>, rel: &[u8], digest: &[u8; 32]) -> Result<()> {
    let Some(line) = listed.get_mut(rel) else {
        return Err(Problem::Unchecksummed.at_entry(rel, "is not listed in CHECKSUMS"));
    };
    if &line.digest != digest {
        return Err(checksums_error(format!(
            "line {}: {} checksum mismatch (listed {}, actual {})",
            line.number,
            String::from_utf8_lossy(rel),
            hex::encode(line.digest),
            hex::encode(digest)
        )));
    }
    line.seen = true;
    Ok(())
}

impl StreamVerifier {
    /// A regular file other than CHECKSUMS, fully written.
    pub(super) fn file(&mut self, rel: &[u8], digest: [u8; 32]) -> Result<()> {
        match &mut self.listed {
            Some(listed) => check(listed, rel, &digest),
            None => {
                self.pending.push((rel.to_vec(), digest));
                Ok(())
            }
        }
    }

    /// CHECKSUMS itself.
    pub(super) fn checksums(&mut self, body: &[u8]) -> Result<()> {
        let mut listed = parse(body)?;
        for (rel, d) in self.pending.drain(..) {
            check(&mut listed, &rel, &d)?;
        }
        self.listed = Some(listed);
        Ok(())
    }

    /// Every listed file was in the archive, with its digest.
    pub(super) fn finish(self) -> Result<()> {
        let Some(listed) = self.listed else {
            return Err(Error::data("the archive has no CHECKSUMS"));
        };
        let mut missing: Vec<(&Vec<u8>, &Line)> = listed.iter().filter(|(_, l)| !l.seen).collect();
        missing.sort_by_key(|(_, l)| l.number);
        if let Some((rel, l)) = missing.first() {
            return Err(checksums_error(format!(
                "line {}: {} is listed but not in the archive{}",
                l.number,
                String::from_utf8_lossy(rel),
                match missing.len() {
                    1 => String::new(),
                    n => format!(" ({} more missing)", n - 1),
                }
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn d(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    fn body(lines: &[(&[u8], &str)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (data, name) in lines {
            checksums::format_line(&mut v, &hex::encode(d(data)), name.as_bytes());
        }
        v
    }

    #[test]
    fn files_before_and_after_checksums_are_checked() {
        let mut v = StreamVerifier::default();
        v.file(b"A.json", d(b"a")).unwrap();
        v.checksums(&body(&[(b"a", "A.json"), (b"b", "./x/b")]))
            .unwrap();
        v.file(b"x/b", d(b"b")).unwrap();
        v.finish().unwrap();
    }

    #[test]
    fn mismatches_strays_and_missing_files_are_refused() {
        let listed = body(&[(b"a", "a"), (b"b", "b")]);
        let mut v = StreamVerifier::default();
        v.checksums(&listed).unwrap();
        assert!(
            v.file(b"a", d(b"changed"))
                .unwrap_err()
                .to_string()
                .contains("checksum mismatch")
        );
        let mut v = StreamVerifier::default();
        v.checksums(&listed).unwrap();
        let e = v.file(b"stray", d(b"x")).unwrap_err();
        assert!(e.to_string().contains("archive_unchecksummed_file"), "{e}");
        let mut v = StreamVerifier::default();
        v.checksums(&listed).unwrap();
        v.file(b"a", d(b"a")).unwrap();
        let e = v.finish().unwrap_err();
        assert!(
            e.to_string()
                .contains("line 2: b is listed but not in the archive"),
            "{e}"
        );
        assert!(StreamVerifier::default().finish().is_err());
        for bad in [
            &b"\n\n"[..],
            b"xyz  a\n",
            format!("{}  ../a\n", "0".repeat(64)).as_bytes(),
        ] {
            assert_eq!(
                StreamVerifier::default()
                    .checksums(bad)
                    .unwrap_err()
                    .exit_code(),
                2
            );
        }
    }
}
