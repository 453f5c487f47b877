//! Tar header blocks byte-for-byte as Go's `archive/tar` writes them for a
//! header made by `FileInfoHeader` with the format left unspecified (what
//! upstream's packer does): USTAR when every field fits, otherwise a PAX
//! extended header (`PaxHeaders.0/<name>`) before a USTAR-magic main header.
//! Only the fields a dump tree needs are modelled: directories and regular
//! files, no link names, no device numbers.

use std::fmt::Write as _;

pub const BLOCK: usize = 512;

const NAME: (usize, usize) = (0, 100);
const MODE: (usize, usize) = (100, 8);
const UID: (usize, usize) = (108, 8);
const GID: (usize, usize) = (116, 8);
const SIZE: (usize, usize) = (124, 12);
const MTIME: (usize, usize) = (136, 12);
const CHKSUM: (usize, usize) = (148, 8);
const TYPEFLAG: usize = 156;
const MAGIC: (usize, usize) = (257, 6);
const VERSION: (usize, usize) = (263, 2);
const UNAME: (usize, usize) = (265, 32);
const GNAME: (usize, usize) = (297, 32);
const DEVMAJOR: (usize, usize) = (329, 8);
const DEVMINOR: (usize, usize) = (337, 8);
const PREFIX: (usize, usize) = (345, 155);

/// What one archive member says about a file or directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Relative, `/`-separated, no trailing slash (upstream's spelling).
    pub name: Vec<u8>,
    pub is_dir: bool,
    /// Permission bits plus set-uid/set-gid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    /// Regular files only (directories are 0).
    pub size: u64,
    pub mtime_secs: i64,
    pub mtime_nanos: u32,
}

/// The blocks that precede the member's data: optionally a PAX extended
/// header (header block, records, padding), then the main header block.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub pax: Option<([u8; BLOCK], Vec<u8>)>,
    pub main: [u8; BLOCK],
}

fn is_ascii(s: &[u8]) -> bool {
    s.iter().all(|&b| b != 0 && b < 0x80)
}

/// Go's `toASCII`: drop every rune that is not 7-bit (or is NUL). Every
/// byte of a multi-byte or invalid sequence is >= 0x80, so this is bytewise.
fn to_ascii(s: &[u8]) -> Vec<u8> {
    s.iter().copied().filter(|&b| b != 0 && b < 0x80).collect()
}

fn fits_octal(len: usize, x: i128) -> bool {
    x >= 0 && (len >= 22 || x < 1i128 << ((len - 1) * 3))
}

/// Go's `formatString`: copy (truncating), NUL-terminate when there is room,
/// and never leave a trailing `/` at the end of a truncated field.
fn put_str(blk: &mut [u8; BLOCK], (off, len): (usize, usize), s: &[u8]) {
    let b = &mut blk[off..off + len];
    let n = s.len().min(len);
    b[..n].copy_from_slice(&s[..n]);
    if s.len() < len {
        b[s.len()] = 0;
    }
    if s.len() > len && b[len - 1] == b'/' {
        let mut k = len - 1;
        while k > 0 && s[k - 1] == b'/' {
            k -= 1;
        }
        b[k] = 0;
    }
}

/// Go's `formatOctal`: zero-padded octal leaving room for a NUL; a value
/// that does not fit is written as 0.
fn put_octal(blk: &mut [u8; BLOCK], field: (usize, usize), x: i128) {
    let x = if fits_octal(field.1, x) { x } else { 0 };
    let digits = format!("{x:o}");
    let pad = (field.1 as isize - digits.len() as isize - 1).max(0) as usize;
    let mut s = "0".repeat(pad);
    s.push_str(&digits);
    put_str(blk, field, s.as_bytes());
}

/// USTAR magic and version, then the checksum ("%06o\0 ").
fn seal(blk: &mut [u8; BLOCK]) {
    blk[MAGIC.0..MAGIC.0 + MAGIC.1].copy_from_slice(b"ustar\0");
    blk[VERSION.0..VERSION.0 + VERSION.1].copy_from_slice(b"00");
    let sum: u64 = blk
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (CHKSUM.0..CHKSUM.0 + CHKSUM.1).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(c)
            }
        })
        .sum();
    put_octal(blk, (CHKSUM.0, 7), i128::from(sum));
    blk[CHKSUM.0 + 7] = b' ';
}

/// Go's `splitUSTARPath`: split a long ASCII name at a `/` so that the
/// suffix fits the name field and the prefix fits the prefix field.
fn split_ustar_path(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = name.len();
    if length <= NAME.1 || !is_ascii(name) {
        return None;
    } else if length > PREFIX.1 + 1 {
        length = PREFIX.1 + 1;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].iter().rposition(|&c| c == b'/')?;
    let nlen = name.len() - i - 1;
    if i == 0 || nlen > NAME.1 || nlen == 0 || i > PREFIX.1 {
        return None;
    }
    Some((&name[..i], &name[i + 1..]))
}

/// One PAX record, `"<len> <key>=<value>\n"` where `<len>` counts itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut size = base + base.to_string().len();
    if size.to_string().len() + base != size {
        size = base + size.to_string().len();
    }
    let mut r = Vec::with_capacity(size);
    r.extend_from_slice(size.to_string().as_bytes());
    r.push(b' ');
    r.extend_from_slice(key.as_bytes());
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// Go's `path.Join(dir, "PaxHeaders.0", file)` for a clean relative name.
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 13);
    match name.iter().rposition(|&c| c == b'/') {
        Some(i) => {
            out.extend_from_slice(&name[..=i]);
            out.extend_from_slice(b"PaxHeaders.0/");
            out.extend_from_slice(&name[i + 1..]);
        }
        None => {
            out.extend_from_slice(b"PaxHeaders.0/");
            out.extend_from_slice(name);
        }
    }
    out
}

/// Go rounds the modification time to the nearest second (halves up).
pub fn rounded_mtime(secs: i64, nanos: u32) -> i64 {
    if nanos >= 500_000_000 { secs + 1 } else { secs }
}

/// Encode one member's header blocks.
pub fn encode(m: &Member) -> Encoded {
    let mtime = rounded_mtime(m.mtime_secs, m.mtime_nanos);
    let mut pax: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut ustar_ok = true;

    let name_needs = !is_ascii(&m.name) || m.name.len() > NAME.1;
    if name_needs {
        if split_ustar_path(&m.name).is_none() {
            ustar_ok = false;
        }
        pax.push(("path", m.name.clone()));
    }
    for (key, s, len) in [("uname", &m.uname, UNAME.1), ("gname", &m.gname, GNAME.1)] {
        if !is_ascii(s) || s.len() > len {
            ustar_ok = false;
            pax.push((key, s.clone()));
        }
    }
    for (key, v, len) in [
        ("uid", i128::from(m.uid), UID.1),
        ("gid", i128::from(m.gid), GID.1),
        ("size", i128::from(m.size), SIZE.1),
    ] {
        if !fits_octal(len, v) {
            ustar_ok = false;
            pax.push((key, v.to_string().into_bytes()));
        }
    }
    if !fits_octal(MTIME.1, i128::from(mtime)) {
        ustar_ok = false;
        pax.push(("mtime", mtime.to_string().into_bytes()));
    }

    let mut main = [0u8; BLOCK];
    main[TYPEFLAG] = if m.is_dir { b'5' } else { b'0' };
    put_octal(&mut main, MODE, i128::from(m.mode));
    put_octal(&mut main, UID, i128::from(m.uid));
    put_octal(&mut main, GID, i128::from(m.gid));
    put_octal(&mut main, SIZE, i128::from(m.size));
    put_octal(&mut main, MTIME, i128::from(mtime));
    put_octal(&mut main, DEVMAJOR, 0);
    put_octal(&mut main, DEVMINOR, 0);

    if ustar_ok {
        let (prefix, name) = match split_ustar_path(&m.name) {
            Some((p, n)) => (p, n),
            None => (&b""[..], &m.name[..]),
        };
        put_str(&mut main, NAME, name);
        put_str(&mut main, UNAME, &m.uname);
        put_str(&mut main, GNAME, &m.gname);
        put_str(&mut main, PREFIX, prefix);
        seal(&mut main);
        return Encoded { pax: None, main };
    }

    put_str(&mut main, NAME, &to_ascii(&m.name));
    put_str(&mut main, UNAME, &to_ascii(&m.uname));
    put_str(&mut main, GNAME, &to_ascii(&m.gname));
    seal(&mut main);

    pax.sort_by(|a, b| a.0.cmp(b.0));
    let mut data = Vec::new();
    for (k, v) in &pax {
        data.extend_from_slice(&pax_record(k, v));
    }
    let mut xh = [0u8; BLOCK];
    let mut xname = to_ascii(&pax_header_name(&m.name));
    xname.truncate(NAME.1);
    while xname.last() == Some(&b'/') {
        xname.pop();
    }
    xh[TYPEFLAG] = b'x';
    put_str(&mut xh, NAME, &xname);
    put_octal(&mut xh, MODE, 0);
    put_octal(&mut xh, UID, 0);
    put_octal(&mut xh, GID, 0);
    put_octal(&mut xh, SIZE, data.len() as i128);
    put_octal(&mut xh, MTIME, 0);
    seal(&mut xh);
    Encoded {
        pax: Some((xh, data)),
        main,
    }
}

/// A short human description of a header block, for test failures.
pub fn describe(blk: &[u8; BLOCK]) -> String {
    let mut s = String::new();
    for (name, (off, len)) in [
        ("name", NAME),
        ("mode", MODE),
        ("uid", UID),
        ("gid", GID),
        ("size", SIZE),
        ("mtime", MTIME),
        ("chksum", CHKSUM),
        ("uname", UNAME),
        ("gname", GNAME),
        ("prefix", PREFIX),
    ] {
        let _ = write!(
            s,
            "{name}={:?} ",
            String::from_utf8_lossy(&blk[off..off + len])
        );
    }
    let _ = write!(s, "type={}", blk[TYPEFLAG] as char);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str) -> Member {
        Member {
            name: name.as_bytes().to_vec(),
            is_dir: false,
            mode: 0o600,
            uid: 0,
            gid: 0,
            uname: b"root".to_vec(),
            gname: b"root".to_vec(),
            size: 5,
            mtime_secs: 1_700_000_000,
            mtime_nanos: 600_000_000,
        }
    }

    #[test]
    fn ustar_fields_are_formatted_like_go() {
        let e = encode(&member("a/b.json"));
        assert!(e.pax.is_none());
        let b = &e.main;
        assert_eq!(&b[0..9], b"a/b.json\0");
        assert_eq!(&b[100..108], b"0000600\0");
        assert_eq!(&b[124..136], b"00000000005\0");
        // 1_700_000_000.6 rounds up.
        assert_eq!(&b[136..148], format!("{:011o}\0", 1_700_000_001).as_bytes());
        assert_eq!(b[154], 0);
        assert_eq!(b[155], b' ');
        assert_eq!(&b[257..265], b"ustar\x0000");
        assert_eq!(&b[329..345], b"0000000\x000000000\x00");
        // The block parses with the tar crate and its checksum verifies.
        let h = tar::Header::from_byte_slice(b);
        assert_eq!(h.cksum().unwrap(), {
            let mut t = *b;
            t[148..156].fill(b' ');
            t.iter().map(|&c| u32::from(c)).sum::<u32>()
        });
        assert_eq!(h.path_bytes().as_ref(), b"a/b.json");
    }

    #[test]
    fn long_names_split_or_go_pax() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let e = encode(&member(&long));
        assert!(e.pax.is_none());
        assert_eq!(&e.main[345..465], "d".repeat(120).as_bytes());
        let h = tar::Header::from_byte_slice(&e.main);
        assert_eq!(h.path_bytes().as_ref(), long.as_bytes());

        let unsplittable = "x".repeat(150);
        let e = encode(&member(&unsplittable));
        let (xh, data) = e.pax.unwrap();
        assert_eq!(xh[156], b'x');
        assert_eq!(&xh[0..13], b"PaxHeaders.0/");
        assert_eq!(data, format!("160 path={unsplittable}\n").into_bytes());
        assert_eq!(&e.main[0..100], "x".repeat(100).as_bytes());
    }

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(pax_record("path", b"a"), b"9 path=a\n");
        // 3 + 4 + 92 = 99 → with "99 " the record is 101 long, so "101 ".
        let v = vec![b'v'; 92];
        let r = pax_record("path", &v);
        assert!(r.starts_with(b"102 path="));
        assert_eq!(r.len(), 102);
    }

    fn name_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop::collection::vec("[a-zA-Z0-9._%-]{1,40}|[a-zé☃]{1,12}", 1..8).prop_map(|v| v.join("/"))
    }

    proptest::proptest! {
        /// Whatever the fields, the blocks parse back (checksum included)
        /// to the member, through USTAR, the prefix split or PAX records.
        #[test]
        fn headers_parse_back(
            name in name_strategy(),
            is_dir in proptest::bool::ANY,
            mode in 0u32..0o7777,
            uid in proptest::prop_oneof![0u64..70_000, 2_000_000u64..5_000_000],
            gid in 0u64..3_000_000,
            uname in "[a-z]{0,40}",
            size in proptest::prop_oneof![0u64..10_000, (1u64 << 33) - 2..(1u64 << 34)],
            mtime_secs in 0i64..(1 << 33) + 10,
            mtime_nanos in 0u32..1_000_000_000,
        ) {
            let m = Member {
                name: name.clone().into_bytes(),
                is_dir,
                mode,
                uid,
                gid,
                uname: uname.clone().into_bytes(),
                gname: b"staff".to_vec(),
                size: if is_dir { 0 } else { size },
                mtime_secs,
                mtime_nanos,
            };
            let e = encode(&m);
            let mut bytes = Vec::new();
            if let Some((xh, recs)) = &e.pax {
                bytes.extend_from_slice(xh);
                bytes.extend_from_slice(recs);
                bytes.resize(bytes.len().div_ceil(BLOCK) * BLOCK, 0);
            }
            bytes.extend_from_slice(&e.main);
            let mut a = tar::Archive::new(&bytes[..]);
            let entry = a.entries().unwrap().next().unwrap().unwrap();
            let h = entry.header();
            let path = entry.path_bytes().into_owned();
            proptest::prop_assert_eq!(path, name.as_bytes().to_vec());
            proptest::prop_assert_eq!(entry.size(), m.size);
            proptest::prop_assert_eq!(h.uid().unwrap(), uid);
            proptest::prop_assert_eq!(h.gid().unwrap(), gid);
            proptest::prop_assert_eq!(h.mode().unwrap(), mode);
            proptest::prop_assert_eq!(h.entry_type().is_dir(), is_dir);
            let mtime = rounded_mtime(mtime_secs, mtime_nanos);
            if fits_octal(MTIME.1, i128::from(mtime)) {
                proptest::prop_assert_eq!(h.mtime().unwrap(), mtime as u64);
            }
            if uname.len() <= UNAME.1 {
                let got = h.username_bytes().unwrap_or_default().to_vec();
                proptest::prop_assert_eq!(got, uname.as_bytes().to_vec());
            }
        }
    }
}
