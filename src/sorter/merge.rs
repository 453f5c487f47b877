//! The k-way merge of sorted sources (run files and the in-memory tail).
//! Ties go to the source with the lower index, so sources listed in
//! insertion order merge stably.

use super::Staged;
use super::run::RunReader;
use crate::error::Result;

pub(super) enum Source {
    Run(RunReader),
    /// The sorted records still in memory; `next` is one past the current.
    Memory {
        staged: Staged,
        next: usize,
    },
}

impl Source {
    fn advance(&mut self) -> Result<bool> {
        match self {
            Source::Run(r) => r.advance(),
            Source::Memory { staged, next } => {
                if *next < staged.slots.len() {
                    *next += 1;
                    Ok(true)
                } else {
                    *staged = Staged::default();
                    Ok(false)
                }
            }
        }
    }

    pub(super) fn key(&self) -> &[u8] {
        match self {
            Source::Run(r) => r.key(),
            Source::Memory { staged, next } => staged.key(&staged.slots[*next - 1]),
        }
    }

    pub(super) fn payload(&self) -> &[u8] {
        match self {
            Source::Run(r) => r.payload(),
            Source::Memory { staged, next } => staged.payload(&staged.slots[*next - 1]),
        }
    }
}

pub(super) struct Merger {
    pub(super) sources: Vec<Source>,
    /// A binary min-heap of the indices of sources holding a record.
    heap: Vec<usize>,
    primed: bool,
}

impl Merger {
    pub(super) fn new(mut sources: Vec<Source>) -> Result<Merger> {
        let mut heap = Vec::with_capacity(sources.len());
        for (i, s) in sources.iter_mut().enumerate() {
            if s.advance()? {
                heap.push(i);
            }
        }
        let mut m = Merger {
            sources,
            heap,
            primed: false,
        };
        for i in (0..m.heap.len() / 2).rev() {
            m.sift_down(i);
        }
        Ok(m)
    }

    fn less(&self, a: usize, b: usize) -> bool {
        match self.sources[a].key().cmp(self.sources[b].key()) {
            std::cmp::Ordering::Equal => a < b,
            o => o.is_lt(),
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                return;
            }
            let r = l + 1;
            let c = if r < n && self.less(self.heap[r], self.heap[l]) {
                r
            } else {
                l
            };
            if !self.less(self.heap[c], self.heap[i]) {
                return;
            }
            self.heap.swap(i, c);
            i = c;
        }
    }

    /// Move to the next record in order: the index of the source holding
    /// it, or `None` at the end.
    pub(super) fn next(&mut self) -> Result<Option<usize>> {
        if !self.primed {
            self.primed = true;
        } else if let Some(&top) = self.heap.first() {
            if !self.sources[top].advance()? {
                let last = self.heap.pop().expect("non-empty heap");
                if self.heap.is_empty() {
                    return Ok(None);
                }
                self.heap[0] = last;
            }
            self.sift_down(0);
        }
        Ok(self.heap.first().copied())
    }
}
