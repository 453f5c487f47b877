//! What the decoder knows about each user key — its last registered type,
//! who owns its TTL, each collection's meta — without a table of every
//! key in memory.
//!
//! Upstream keeps that table in a map and routes each `!redis|ttl|` row by
//! the type the key has *when the row arrives*. Here every record leaves a
//! small event keyed by `(user key, arrival number)` in the external
//! sorter; at finalize the sorted events are replayed key by key in
//! arrival order, which gives each key exactly the states upstream's map
//! goes through. What the replay decides is ordered back:
//!
//! * TTL lines and KEYMAP lines carry their arrival number and are
//!   written in that order ([`StreamLines`]);
//! * each collection's final state goes to the content store, beside its
//!   members, for the finalize walk in (type, key) order;
//! * upstream's byte cap on parked TTLs is checked by a sweep over
//!   park/claim events in arrival order, run only when the parked bytes
//!   could have reached it at all.

use super::content::Ty;
use crate::adapter::DecodeContext;
use crate::error::{Error, Result};
use crate::sorter::key::{self, KeyReader};
use crate::sorter::{ExternalSorter, Sorted, Ties};

/// Charged per parked TTL on top of its key bytes (the u64 it holds).
pub const PENDING_ENTRY_COST: u64 = 8;

/// The type a key was last registered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    #[default]
    Unknown,
    String,
    Hll,
    Coll(Ty),
}

/// The fixed-size state of one collection of one key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coll {
    pub meta_seen: bool,
    pub declared: i64,
    pub last_ms: u64,
    pub last_seq: u64,
    pub expire: u64,
    pub has_ttl: bool,
    /// The meta carried an inline expiry slot; scan-index rows are ignored.
    pub inline_owned: bool,
}

impl Coll {
    const ENCODED: usize = 1 + 8 * 4;

    fn apply_inline(&mut self, inline: Option<u64>) {
        if let Some(ms) = inline {
            self.expire = ms;
            self.has_ttl = ms != 0;
            self.inline_owned = true;
        }
    }

    pub fn encode(&self) -> [u8; Coll::ENCODED] {
        let mut b = [0u8; Coll::ENCODED];
        b[0] = u8::from(self.meta_seen)
            | u8::from(self.has_ttl) << 1
            | u8::from(self.inline_owned) << 2;
        b[1..9].copy_from_slice(&self.declared.to_be_bytes());
        b[9..17].copy_from_slice(&self.last_ms.to_be_bytes());
        b[17..25].copy_from_slice(&self.last_seq.to_be_bytes());
        b[25..33].copy_from_slice(&self.expire.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<Coll> {
        let b: &[u8; Coll::ENCODED] = b.try_into().ok()?;
        let u = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Some(Coll {
            meta_seen: b[0] & 1 != 0,
            has_ttl: b[0] & 2 != 0,
            inline_owned: b[0] & 4 != 0,
            declared: u(1) as i64,
            last_ms: u(9),
            last_seq: u(17),
            expire: u(25),
        })
    }
}

/// A meta record's fields, as the event carries them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta {
    pub declared: i64,
    pub last_ms: u64,
    pub last_seq: u64,
    pub inline_expire: Option<u64>,
}

/// One record's effect on its key's state.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// A string or HLL value; a new-format one owns the key's TTL.
    Simple { hll: bool, new_format: bool },
    /// A `!redis|ttl|` row.
    Ttl(u64),
    /// Any row of a collection (creates it on first sight).
    Touch(Ty),
    /// A collection's meta row.
    Meta(Ty, Meta),
}

const EV_SIMPLE: u8 = 0;
const EV_TTL: u8 = 1;
const EV_TOUCH: u8 = 2;
const EV_META: u8 = 3;

impl Event {
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Event::Simple { hll, new_format } => {
                out.extend_from_slice(&[EV_SIMPLE, u8::from(hll), u8::from(new_format)])
            }
            Event::Ttl(ms) => {
                out.push(EV_TTL);
                key::push_u64(out, ms);
            }
            Event::Touch(t) => out.extend_from_slice(&[EV_TOUCH, t as u8]),
            Event::Meta(t, m) => {
                out.extend_from_slice(&[EV_META, t as u8]);
                key::push_i64(out, m.declared);
                key::push_u64(out, m.last_ms);
                key::push_u64(out, m.last_seq);
                out.push(u8::from(m.inline_expire.is_some()));
                key::push_u64(out, m.inline_expire.unwrap_or(0));
            }
        }
    }

    fn decode(b: &[u8]) -> Option<Event> {
        let mut r = KeyReader::new(b);
        let ev = match r.u8()? {
            EV_SIMPLE => Event::Simple {
                hll: r.u8()? != 0,
                new_format: r.u8()? != 0,
            },
            EV_TTL => Event::Ttl(r.u64()?),
            EV_TOUCH => Event::Touch(ty(r.u8()?)?),
            EV_META => {
                let t = ty(r.u8()?)?;
                let declared = r.i64()?;
                let last_ms = r.u64()?;
                let last_seq = r.u64()?;
                let has = r.u8()? != 0;
                let inline = r.u64()?;
                Event::Meta(
                    t,
                    Meta {
                        declared,
                        last_ms,
                        last_seq,
                        inline_expire: has.then_some(inline),
                    },
                )
            }
            _ => return None,
        };
        Some(ev)
    }
}

fn ty(b: u8) -> Option<Ty> {
    Ty::ALL.get(usize::from(b)).copied()
}

pub fn corrupt() -> Error {
    Error::data("redis: corrupt sort record (internal error)")
}

/// Events of every key, staged for the replay.
pub struct KeyEvents {
    sorter: ExternalSorter,
    key: Vec<u8>,
    payload: Vec<u8>,
    /// The last collection touched, to drop the repeats of a collection's
    /// consecutive rows (a touch of an existing collection changes nothing).
    last_touch: Option<(Ty, Vec<u8>)>,
}

impl KeyEvents {
    pub fn new(budget: u64, ctx: &DecodeContext) -> Self {
        KeyEvents {
            sorter: ExternalSorter::new(budget, ctx.spill_dir(), Ties::InsertionOrder)
                .with_cancel(&ctx.cancel),
            key: Vec::new(),
            payload: Vec::new(),
            last_touch: None,
        }
    }

    #[cfg(test)]
    pub fn exact(mut self, budget: u64) -> Self {
        self.sorter = self.sorter.with_exact_budget(budget).with_fan_in(3);
        self
    }

    /// Record `ev` for `uk`, which arrived as record number `seq`.
    pub fn add(&mut self, uk: &[u8], seq: u64, ev: Event) -> Result<()> {
        let touched = match ev {
            Event::Touch(t) | Event::Meta(t, _) => Some(t),
            _ => None,
        };
        if let Some(t) = touched {
            let same = matches!(&self.last_touch, Some((lt, lk)) if *lt == t && lk == uk);
            if same && matches!(ev, Event::Touch(_)) {
                return Ok(());
            }
            if !same {
                let (lt, lk) = self.last_touch.get_or_insert_with(|| (t, Vec::new()));
                *lt = t;
                lk.clear();
                lk.extend_from_slice(uk);
            }
        }
        self.key.clear();
        key::push_bytes(&mut self.key, uk);
        key::push_u64(&mut self.key, seq);
        self.payload.clear();
        ev.encode(&mut self.payload);
        self.sorter.add(&self.key, &self.payload)
    }

    pub fn finish(self) -> Result<SortedEvents> {
        Ok(SortedEvents {
            sorted: self.sorter.finish()?,
        })
    }
}

pub struct SortedEvents {
    sorted: Sorted,
}

impl SortedEvents {
    fn next(&mut self) -> Result<Option<(Vec<u8>, u64, Event)>> {
        let Some((k, p)) = self.sorted.next()? else {
            return Ok(None);
        };
        let mut r = KeyReader::new(k);
        let uk = r.bytes().ok_or_else(corrupt)?;
        let seq = r.u64().ok_or_else(corrupt)?;
        let ev = Event::decode(p).ok_or_else(corrupt)?;
        Ok(Some((uk, seq, ev)))
    }
}

/// Where the replay sends what it decides.
pub trait ReplayOut {
    /// A `!redis|ttl|` row (record `seq`) that lands in the string or HLL
    /// TTL sidecar.
    fn ttl_line(&mut self, seq: u64, hll: bool, uk: &[u8], ms: u64) -> Result<()>;
    /// The final state of collection `t` of `uk`.
    fn coll(&mut self, t: Ty, uk: &[u8], c: &Coll) -> Result<()>;
}

/// One key's state while its events are replayed.
#[derive(Default)]
struct KeyState {
    kind: Kind,
    simple_owned: bool,
    colls: [Option<Coll>; 5],
    /// A TTL row that arrived before the key had a type: (ms, record).
    parked: Option<u64>,
}

/// Counts of TTL rows no key claimed, and the cap check.
pub struct Replayed {
    pub orphan_ttls: u64,
    pub overflow: Option<Overflow>,
}

/// The first parked TTL that would have pushed the parked bytes past the
/// cap, as upstream reports it when it stops there.
pub struct Overflow {
    pub error: Error,
    /// Keys parked at that moment (upstream counts them as orphans).
    pub parked_keys: u64,
}

/// Replays every key's events in arrival order.
pub struct Replay {
    pub pending_cap: u64,
    /// Park (+) and claim (−) events by arrival, for the cap sweep.
    sweep: ExternalSorter,
    parked_total: u64,
}

const SWEEP_PARK: u8 = 0;
const SWEEP_CLAIM: u8 = 1;

impl Replay {
    pub fn new(pending_cap: u64, budget: u64, ctx: &DecodeContext) -> Self {
        Replay {
            pending_cap,
            sweep: ExternalSorter::new(budget, ctx.spill_dir(), Ties::InsertionOrder)
                .with_cancel(&ctx.cancel),
            parked_total: 0,
        }
    }

    #[cfg(test)]
    pub fn exact(mut self, budget: u64) -> Self {
        self.sweep = self.sweep.with_exact_budget(budget).with_fan_in(3);
        self
    }

    pub fn run(mut self, mut events: SortedEvents, out: &mut dyn ReplayOut) -> Result<Replayed> {
        let mut orphans = 0;
        let mut next = events.next()?;
        while let Some((uk, _, _)) = &next {
            let uk = uk.clone();
            let mut st = KeyState::default();
            while let Some((k, seq, ev)) = &next {
                if *k != uk {
                    break;
                }
                orphans += self.apply(&mut st, &uk, *seq, *ev, out)?;
                next = events.next()?;
            }
            if st.parked.is_some() {
                orphans += 1;
            }
            for t in Ty::ALL {
                if let Some(c) = &st.colls[t as usize] {
                    out.coll(t, &uk, c)?;
                }
            }
        }
        let overflow = if self.parked_total > self.pending_cap {
            self.sweep()?
        } else {
            None
        };
        Ok(Replayed {
            orphan_ttls: orphans,
            overflow,
        })
    }

    /// Apply one event; returns the TTL rows it made orphans.
    fn apply(
        &mut self,
        st: &mut KeyState,
        uk: &[u8],
        seq: u64,
        ev: Event,
        out: &mut dyn ReplayOut,
    ) -> Result<u64> {
        match ev {
            Event::Simple { hll, new_format } => {
                st.kind = if hll { Kind::Hll } else { Kind::String };
                st.simple_owned |= new_format;
            }
            Event::Ttl(ms) => match st.kind {
                Kind::String | Kind::Hll if st.simple_owned => {}
                Kind::String => out.ttl_line(seq, false, uk, ms)?,
                Kind::Hll => out.ttl_line(seq, true, uk, ms)?,
                Kind::Coll(t) => {
                    let c = self.coll(st, uk, seq, t)?;
                    if !c.inline_owned {
                        c.expire = ms;
                        c.has_ttl = true;
                    }
                }
                Kind::Unknown => {
                    if self.pending_cap == 0 {
                        return Ok(1);
                    }
                    if st.parked.is_none() {
                        self.parked_total += uk.len() as u64 + PENDING_ENTRY_COST;
                        self.sweep
                            .add_parts(&[&seq.to_be_bytes()], &[&[SWEEP_PARK], uk])?;
                    }
                    st.parked = Some(ms);
                }
            },
            Event::Touch(t) => {
                self.coll(st, uk, seq, t)?;
            }
            Event::Meta(t, m) => {
                let c = self.coll(st, uk, seq, t)?;
                c.declared = m.declared;
                c.meta_seen = true;
                if t == Ty::Stream {
                    c.last_ms = m.last_ms;
                    c.last_seq = m.last_seq;
                }
                c.apply_inline(m.inline_expire);
            }
        }
        Ok(0)
    }

    /// Collection `t` of the key, created on first sight: creation
    /// registers the key's type and, for sets, sorted sets and streams
    /// (whose rows sort after `!redis|ttl|`), claims a parked TTL.
    fn coll<'s>(
        &mut self,
        st: &'s mut KeyState,
        uk: &[u8],
        seq: u64,
        t: Ty,
    ) -> Result<&'s mut Coll> {
        if st.colls[t as usize].is_none() {
            let mut c = Coll::default();
            if matches!(t, Ty::Set | Ty::ZSet | Ty::Stream) {
                if let Some(ms) = st.parked.take() {
                    c.expire = ms;
                    c.has_ttl = true;
                    let cost = uk.len() as u64 + PENDING_ENTRY_COST;
                    self.sweep.add_parts(
                        &[&seq.to_be_bytes()],
                        &[&[SWEEP_CLAIM], &cost.to_be_bytes()],
                    )?;
                }
            }
            st.colls[t as usize] = Some(c);
            st.kind = Kind::Coll(t);
        }
        Ok(st.colls[t as usize].as_mut().expect("created above"))
    }

    /// Walk parks and claims in arrival order; the first park past the cap
    /// is where upstream stops.
    fn sweep(self) -> Result<Option<Overflow>> {
        let mut sorted = self.sweep.finish()?;
        let (mut bytes, mut keys) = (0u64, 0u64);
        while let Some((_, p)) = sorted.next()? {
            let (&what, rest) = p.split_first().ok_or_else(corrupt)?;
            if what == SWEEP_CLAIM {
                let cost: [u8; 8] = rest.try_into().map_err(|_| corrupt())?;
                bytes -= u64::from_be_bytes(cost);
                keys -= 1;
                continue;
            }
            let uk = rest;
            let cost = uk.len() as u64 + PENDING_ENTRY_COST;
            if bytes + cost > self.pending_cap {
                return Ok(Some(Overflow {
                    error: overflow_error(uk, self.pending_cap, bytes, cost),
                    parked_keys: keys,
                }));
            }
            bytes += cost;
            keys += 1;
        }
        Ok(None)
    }
}

fn overflow_error(uk: &[u8], cap: u64, in_flight: u64, cost: u64) -> Error {
    Error::data(format!(
        "!redis|ttl| row for key {} arrived before its type: buffer would exceed byte_cap={cap} by {} bytes (user_key_len={}, in_flight={in_flight}): pending-TTL byte budget exhausted",
        super::decode::quote(uk),
        in_flight + cost - cap,
        uk.len(),
    ))
}

/// The sidecars written line by line while the stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFile {
    StringsTtl = 0,
    HllTtl = 1,
    Keymap = 2,
}

impl LineFile {
    const ALL: [LineFile; 3] = [LineFile::StringsTtl, LineFile::HllTtl, LineFile::Keymap];
}

/// Lines of the stream-order sidecars, keyed by `(record, step)` so that
/// lines decided during the replay land where upstream wrote them.
pub struct StreamLines {
    sorter: ExternalSorter,
    key: [u8; 9],
}

impl StreamLines {
    pub fn new(budget: u64, ctx: &DecodeContext) -> Self {
        StreamLines {
            sorter: ExternalSorter::new(budget, ctx.spill_dir(), Ties::InsertionOrder)
                .with_cancel(&ctx.cancel),
            key: [0; 9],
        }
    }

    #[cfg(test)]
    pub fn exact(mut self, budget: u64) -> Self {
        self.sorter = self.sorter.with_exact_budget(budget).with_fan_in(3);
        self
    }

    /// Line number `step` of record `seq`, for `file`.
    pub fn add(&mut self, seq: u64, step: u8, file: LineFile, line: &[u8]) -> Result<()> {
        self.key[..8].copy_from_slice(&seq.to_be_bytes());
        self.key[8] = step;
        self.sorter.add_parts(&[&self.key], &[&[file as u8], line])
    }

    /// Every line in order, with the file it belongs to.
    pub fn drain(self, mut each: impl FnMut(LineFile, &[u8]) -> Result<()>) -> Result<()> {
        let mut sorted = self.sorter.finish()?;
        while let Some((_, p)) = sorted.next()? {
            let (&f, line) = p.split_first().ok_or_else(corrupt)?;
            let f = *LineFile::ALL.get(usize::from(f)).ok_or_else(corrupt)?;
            each(f, line)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coll_and_event_encodings_round_trip() {
        let c = Coll {
            meta_seen: true,
            declared: -3,
            last_ms: 7,
            last_seq: u64::MAX,
            expire: 9,
            has_ttl: false,
            inline_owned: true,
        };
        assert_eq!(Coll::decode(&c.encode()), Some(c));
        assert_eq!(Coll::decode(&[0; 3]), None);
        let m = Meta {
            declared: i64::MIN,
            last_ms: 1,
            last_seq: 2,
            inline_expire: Some(0),
        };
        let mut b = Vec::new();
        Event::Meta(Ty::Stream, m).encode(&mut b);
        let Some(Event::Meta(Ty::Stream, back)) = Event::decode(&b) else {
            panic!("meta event did not round-trip")
        };
        assert_eq!(
            (
                back.declared,
                back.last_ms,
                back.last_seq,
                back.inline_expire
            ),
            (i64::MIN, 1, 2, Some(0))
        );
        assert!(Event::decode(&[EV_TOUCH, 9]).is_none());
        assert!(Event::decode(&[7]).is_none());
    }
}
