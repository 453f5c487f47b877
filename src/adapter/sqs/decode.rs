//! SQS entries → dump tree (upstream's `SQSEncoder`, the decode side).
//!
//! Messages sort by queue, then (send time, sequence number, message id)
//! with arrival order breaking ties, and every queue's meta and generation
//! sort *after* its messages in the `.fsm`. So each message is rendered to
//! its `messages.jsonl` line on arrival and parked, with its sort key, in a
//! bounded-memory sorter (side records too, keyed by queue and arrival);
//! only the small per-queue state (meta, active generation, counts) stays
//! in memory. `finalize` walks the sorted records queue by queue.

use std::collections::BTreeMap;

use super::keys::{self, MSG_DATA, QUEUE_GEN, QUEUE_META};
use super::model::{self, MESSAGE_MAGIC, META_MAGIC, Message, QueueMeta};
use crate::adapter::{AdapterDecoder, DecodeContext, Warn};
use crate::error::{Error, Result};
use crate::sorter::key::{self, KeyReader};
use crate::sorter::{ExternalSorter, Ties};
use crate::tree::{FileWriter, TreeOut, filename, sink};

const KIND_MESSAGE: u8 = 0;
const KIND_SIDE_RECORD: u8 = 1;

#[derive(Default)]
struct QueueState {
    /// The name decoded from the meta key (names the directory).
    name: Vec<u8>,
    meta: Option<QueueMeta>,
    /// From the generation counter; 0 (none seen) disables the filter.
    active_gen: u64,
    messages: u64,
    side_records: u64,
    flushed: bool,
}

pub struct SqsDecoder {
    tree: TreeOut,
    preserve_visibility: bool,
    include_side_records: bool,
    warn: Warn,
    /// Keyed by the queue segment exactly as it appears in keys.
    queues: BTreeMap<Vec<u8>, QueueState>,
    records: Option<ExternalSorter>,
    key_buf: Vec<u8>,
    line_buf: Vec<u8>,
}

fn show_key(key: &[u8]) -> String {
    let shown: String = key[..key.len().min(200)].escape_ascii().to_string();
    if key.len() > 200 {
        format!("\"{shown}\"...")
    } else {
        format!("\"{shown}\"")
    }
}

fn malformed(key: &[u8], why: impl std::fmt::Display) -> Error {
    Error::data(format!("sqs: malformed SQS key {}: {why}", show_key(key)))
}

impl SqsDecoder {
    pub fn new(ctx: &DecodeContext) -> Self {
        let o = &ctx.options;
        SqsDecoder {
            tree: ctx.tree.clone(),
            preserve_visibility: o.preserve_sqs_visibility,
            include_side_records: o.include_sqs_side_records,
            warn: ctx.warn.clone(),
            queues: BTreeMap::new(),
            records: Some(
                ExternalSorter::new(ctx.memory_budget, ctx.spill_dir(), Ties::InsertionOrder)
                    .with_cancel(&ctx.cancel),
            ),
            key_buf: Vec::new(),
            line_buf: Vec::new(),
        }
    }

    fn state(&mut self, enc: &[u8]) -> &mut QueueState {
        self.queues.entry(enc.to_vec()).or_default()
    }

    fn sorter(&mut self) -> Result<&mut ExternalSorter> {
        self.records
            .as_mut()
            .ok_or_else(|| Error::data("sqs: record after finalize"))
    }

    fn queue_meta(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let enc = key
            .strip_prefix(QUEUE_META)
            .ok_or_else(|| malformed(key, "wrong prefix"))?;
        let name = keys::decode_segment(enc)
            .ok_or_else(|| malformed(key, "queue segment is not base64url"))?;
        let invalid = |why: String| {
            Error::data(format!(
                "sqs: invalid !sqs|queue|meta value of {}: {why}",
                show_key(key)
            ))
        };
        let body = value
            .strip_prefix(META_MAGIC)
            .ok_or_else(|| invalid("missing magic prefix".into()))?;
        let mut meta = QueueMeta::from_stored(body).map_err(|e| invalid(e.to_string()))?;
        if meta.name.is_empty() {
            meta.name.clone_from(&name);
        }
        let st = self.state(enc);
        st.name = name;
        st.meta = Some(meta);
        Ok(())
    }

    fn queue_gen(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let enc = key
            .strip_prefix(QUEUE_GEN)
            .ok_or_else(|| malformed(key, "wrong prefix"))?;
        // Go: strconv.ParseUint(strings.TrimSpace(v), 10, 64). Upstream
        // reports a bad value as a malformed key.
        let parsed = std::str::from_utf8(value)
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok());
        let generation = parsed.ok_or_else(|| {
            malformed(
                key,
                format!(
                    "generation value {} is not a decimal uint64",
                    show_key(value)
                ),
            )
        })?;
        self.state(enc).active_gen = generation;
        Ok(())
    }

    fn message(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let dk = keys::parse_data_key(key).map_err(|e| malformed(key, e))?;
        let invalid = |why: String| {
            Error::data(format!(
                "sqs: invalid !sqs|msg|data value of {}: {why}",
                show_key(key)
            ))
        };
        let body = value
            .strip_prefix(MESSAGE_MAGIC)
            .ok_or_else(|| invalid("missing magic prefix".into()))?;
        let mut m = Message::from_stored(body).map_err(|e| invalid(e.to_string()))?;
        if !self.preserve_visibility {
            m.clear_visibility();
        }
        m.partition = dk.partition;

        let mut k = std::mem::take(&mut self.key_buf);
        k.clear();
        key::push_bytes(&mut k, dk.queue);
        k.push(KIND_MESSAGE);
        key::push_i64(&mut k, m.send_timestamp_millis);
        key::push_u64(&mut k, m.sequence_number);
        key::push_bytes(&mut k, m.message_id.as_bytes());
        let mut line = std::mem::take(&mut self.line_buf);
        line.clear();
        line.extend_from_slice(&m.queue_generation.to_be_bytes());
        m.write_dump_line(&mut line);
        let res = self.sorter().and_then(|s| s.add(&k, &line));
        self.key_buf = k;
        self.line_buf = line;
        res?;
        self.state(dk.queue).messages += 1;
        Ok(())
    }

    fn side_record(&mut self, prefix: &'static [u8], key: &[u8], value: &[u8]) -> Result<()> {
        if !self.include_side_records {
            return Ok(());
        }
        let enc = keys::parse_side_key(key, prefix).map_err(|e| malformed(key, e))?;
        let mut k = std::mem::take(&mut self.key_buf);
        k.clear();
        key::push_bytes(&mut k, enc);
        k.push(KIND_SIDE_RECORD);
        let mut line = std::mem::take(&mut self.line_buf);
        line.clear();
        model::write_side_record_line(&mut line, prefix, key, value);
        let res = self.sorter().and_then(|s| s.add(&k, &line));
        self.key_buf = k;
        self.line_buf = line;
        res?;
        self.state(enc).side_records += 1;
        Ok(())
    }

    fn warn_stale(&self, st: &QueueState, dropped: u64) {
        (self.warn)(&format!(
            "sqs_stale_generation_messages_dropped queue={:?} active_gen={} dropped={dropped} \
             hint=\"messages with mismatched queue_generation suppressed; reaper had not \
             finished cleanup at snapshot time\"",
            String::from_utf8_lossy(&st.name),
            st.active_gen
        ));
    }

    fn warn_orphan(&self, enc: &[u8], st: &QueueState) {
        (self.warn)(&format!(
            "sqs_orphan_messages encoded_queue={:?} buffered_messages={} \
             buffered_side_records={} hint=\"no !sqs|queue|meta record matched this encoded \
             prefix; messages dropped from the dump\"",
            String::from_utf8_lossy(enc),
            st.messages,
            st.side_records
        ));
    }

    /// Walk the sorted records queue by queue, then write the meta of
    /// queues that had none. Every queue is attempted; the first error wins.
    fn flush(&mut self, sorter: ExternalSorter) -> Result<()> {
        let mut first_err: Option<Error> = None;
        let mut sorted = sorter.finish()?;
        let mut cur: Option<OpenQueue> = None;
        while let Some((k, p)) = sorted.next()? {
            let mut r = KeyReader::new(k);
            let enc = r
                .bytes()
                .ok_or_else(|| Error::data("sqs: corrupt sort key"))?;
            let rest = r.rest();
            if cur.as_ref().is_none_or(|c| c.enc != enc) {
                if let Some(c) = cur.take() {
                    self.close(c, &mut first_err);
                }
                cur = Some(self.open(enc, &mut first_err));
            }
            let c = cur.as_mut().expect("opened above");
            let res = match rest.first() {
                Some(&KIND_MESSAGE) => c.message(p),
                Some(&KIND_SIDE_RECORD) => c.side_record(p),
                _ => Err(Error::data("sqs: corrupt sort key")),
            };
            if let Err(e) = res {
                c.failed = true;
                first_err.get_or_insert(e);
            }
        }
        if let Some(c) = cur.take() {
            self.close(c, &mut first_err);
        }
        let pending: Vec<Vec<u8>> = self
            .queues
            .iter()
            .filter(|(_, st)| st.meta.is_some() && !st.flushed)
            .map(|(enc, _)| enc.clone())
            .collect();
        for enc in pending {
            let c = self.open(enc, &mut first_err);
            self.close(c, &mut first_err);
        }
        for (enc, st) in &self.queues {
            if st.meta.is_none() {
                self.warn_orphan(enc, st);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Start a queue: its directory and `_queue.json` when it has a meta
    /// record, else the `.orphan` directory (side records only).
    fn open(&mut self, enc: Vec<u8>, first_err: &mut Option<Error>) -> OpenQueue {
        let st = self.queues.entry(enc.clone()).or_default();
        st.flushed = true;
        let mut q = OpenQueue {
            tree: self.tree.clone(),
            enc,
            dir: Vec::new(),
            has_meta: st.meta.is_some(),
            active_gen: st.active_gen,
            messages: None,
            side_records: None,
            dropped: 0,
            failed: false,
        };
        // Joined as Go's `filepath.Join` does: a queue named `..` lands at
        // the root, `.` in `sqs/`.
        let res = match &st.meta {
            Some(meta) => sink::join(b"sqs", filename::encode(&st.name).as_bytes()).and_then(|d| {
                q.dir = d;
                self.tree
                    .file(&sink::join(&q.dir, b"_queue.json")?, meta.to_dump_json())
            }),
            None => {
                let mut name = q.enc.clone();
                name.extend_from_slice(b".orphan");
                sink::join(b"sqs", &name).map(|d| q.dir = d)
            }
        };
        if let Err(e) = res {
            q.failed = true;
            first_err.get_or_insert(e);
        }
        q
    }

    fn close(&self, q: OpenQueue, first_err: &mut Option<Error>) {
        if q.dropped > 0 {
            if let Some(st) = self.queues.get(&q.enc) {
                self.warn_stale(st, q.dropped);
            }
        }
        for w in [q.messages, q.side_records].into_iter().flatten() {
            if let Err(e) = w.close() {
                first_err.get_or_insert(e);
            }
        }
    }
}

/// The queue being written during `finalize`.
struct OpenQueue {
    tree: TreeOut,
    enc: Vec<u8>,
    /// The queue's directory in the tree.
    dir: Vec<u8>,
    has_meta: bool,
    active_gen: u64,
    messages: Option<FileWriter>,
    side_records: Option<FileWriter>,
    dropped: u64,
    failed: bool,
}

impl OpenQueue {
    fn message(&mut self, payload: &[u8]) -> Result<()> {
        // Messages of a queue without meta are dropped (with a warning).
        if !self.has_meta || self.failed {
            return Ok(());
        }
        let Some((generation, line)) = payload.split_first_chunk::<8>() else {
            return Err(Error::data("sqs: corrupt sorted message record"));
        };
        let generation = u64::from_be_bytes(*generation);
        if self.active_gen != 0 && generation != self.active_gen {
            self.dropped += 1;
            return Ok(());
        }
        if self.messages.is_none() {
            let path = sink::join(&self.dir, b"messages.jsonl")?;
            self.messages = Some(self.tree.create(&path)?);
        }
        self.messages.as_mut().expect("opened").write_all(line)
    }

    fn side_record(&mut self, line: &[u8]) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        if self.side_records.is_none() {
            let path = sink::join(&self.dir, b"_internals/side_records.jsonl")?;
            self.side_records = Some(self.tree.create(&path)?);
        }
        self.side_records.as_mut().expect("opened").write_all(line)
    }
}

impl AdapterDecoder for SqsDecoder {
    fn handle(&mut self, prefix: &'static [u8], user_key: &[u8], value: &[u8]) -> Result<()> {
        match prefix {
            QUEUE_META => self.queue_meta(user_key, value),
            QUEUE_GEN => self.queue_gen(user_key, value),
            MSG_DATA => self.message(user_key, value),
            _ => self.side_record(prefix, user_key, value),
        }
    }

    fn finalize(&mut self) -> Result<()> {
        let Some(sorter) = self.records.take() else {
            return Ok(());
        };
        self.flush(sorter)
    }
}
