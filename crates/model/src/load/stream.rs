//! A JSON `List` file read in parts: runs of items cut as the bytes arrive and parsed on the other cores while the
//! rest is read.
//!
//! Read whole, a 140 MB dump was copied into fresh memory before the first item was parsed, and the copy stayed
//! until the last one was in place, beside everything decoded from it. Read in parts, the reading overlaps the
//! parsing, and only the runs being parsed are held. The cut is the one [`crate::json::split_list`] makes, by
//! quotes and brackets alone; the runs are parsed strictly, and anything unusual sends the caller back to a whole
//! read, which reports it exactly as it always has.

use super::Decoded;
use crate::json::{count_lines, list_items_open, next_item, parse_json, parse_list_items, NextItem};
use crate::parallel::{pipeline, threads};
use crate::yaml::{ParseLimits, Parsed};
use std::io::Read;

/// How a list read in parts ended.
pub(super) enum Streamed {
    /// Read to its end and put in place; `bytes` were read.
    Read { bytes: u64 },
    /// To be read whole: its first `already_put` items are in place already.
    Whole { already_put: usize },
}

/// Runs of at least this many bytes (unless the list ends first): enough to be worth a hand-over between threads.
pub(super) const SMALLEST_RUN: usize = 64 << 10;
/// Runs of at most about this many bytes: the runs waiting to be parsed are what reading in parts holds.
const LARGEST_RUN: usize = 1 << 20;
/// Bytes read, at most, to find where a list's items open (a dump's head is a few lines); a list whose head is
/// longer is read whole.
const LONGEST_HEAD: usize = 1 << 20;

/// Reads the `List` document that `reader` holds in parts of `block` bytes, handing each decoded item and then the
/// list to `put` in input order. `size` (the input's size, as far as it is known) sizes the runs.
pub(super) fn read_list(
    reader: &mut dyn Read,
    size: u64,
    block: usize,
    limits: ParseLimits,
    decode: &(impl Fn(Parsed) -> Decoded + Sync),
    put: &mut impl FnMut(Decoded),
) -> Streamed {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    // A budget of nodes smaller than the input counts nodes across the whole document, which only a whole read can
    // (a JSON node takes at least a byte).
    if limits.node_budget(size) < size {
        return Streamed::Whole { already_put: 0 };
    }
    let mut input = Input { reader, block: block.max(1), bytes: Vec::new(), read: 0, ended: false };
    let Some(head) = ListHead::read(&mut input, limits) else { return Streamed::Whole { already_put: 0 } };
    // Several runs per thread, as a whole read cuts them.
    let target = (size / (8 * threads())).clamp(SMALLEST_RUN, LARGEST_RUN);
    let list_kind = head.kind.as_deref();
    let read_run = |(first_line, run): (u32, String)| {
        let mut decoded = Vec::new();
        let error = parse_list_items(&run, first_line, list_kind, limits, &mut |parsed| decoded.push(decode(parsed)));
        (decoded, error)
    };
    let (mut items_put, mut broken) = (0, false);
    let tail = pipeline(
        |give| cut_runs(&mut input, head.first_line, target, give),
        read_run,
        |(decoded, error)| {
            if error.is_some() {
                broken = true;
                return false;
            }
            // One decoded result per item.
            items_put += decoded.len();
            decoded.into_iter().for_each(&mut *put);
            true
        },
    );
    let Some(Tail { item_lines, text }) = tail.filter(|_| !broken) else {
        return Streamed::Whole { already_put: items_put };
    };
    // The document without its items, the lines they took kept as blank lines, as a whole read cuts it.
    let mut rest = head.text;
    rest.extend(std::iter::repeat_n('\n', item_lines as usize));
    rest.push_str(&text);
    let mut list = Vec::new();
    if parse_json(&rest, limits, &mut |parsed| list.push(decode(parsed))).is_some() {
        // A whole read hands every item over before it breaks after them.
        return Streamed::Whole { already_put: items_put };
    }
    list.into_iter().for_each(&mut *put);
    put(Decoded::ChunkEnd(None));
    Streamed::Read { bytes: input.read }
}

/// The bytes read and not yet handed over.
struct Input<'r> {
    reader: &'r mut dyn Read,
    block: usize,
    bytes: Vec<u8>,
    /// Bytes read in all.
    read: u64,
    ended: bool,
}

impl Input<'_> {
    /// Reads at least `wanted` more bytes, or up to the end; `false` on a read error (a whole read reports it).
    fn fill(&mut self, wanted: usize) -> bool {
        let before = self.bytes.len();
        while !self.ended && self.bytes.len() - before < wanted {
            let want = self.block.max(wanted - (self.bytes.len() - before));
            match Read::take(&mut *self.reader, want as u64).read_to_end(&mut self.bytes) {
                Ok(0) => self.ended = true,
                Ok(n) => self.read += n as u64,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// The document up to its items: `{"apiVersion": "v1", "kind": "List", ..., "items": [`.
struct ListHead {
    text: String,
    kind: Option<String>,
    /// The line the byte after the `[` is on.
    first_line: u32,
}

impl ListHead {
    /// Reads up to the list's items and takes what comes before them off `input`; `None` when a whole read must
    /// take over before any item is put in place: not a list, or a list that breaks before its items.
    fn read(input: &mut Input, limits: ParseLimits) -> Option<ListHead> {
        let (start, open) = loop {
            if !input.fill(input.bytes.len().max(input.block)) {
                return None;
            }
            let (start, text) = text_so_far(&input.bytes)?;
            if let Some((open, _)) = list_items_open(text) {
                break (start, open);
            }
            // Not a list, or not all of its head read yet: a dump's head is a few lines.
            if input.ended || input.bytes.len() >= LONGEST_HEAD {
                return None;
            }
        };
        let (_, text) = text_so_far(&input.bytes)?;
        let (_, kind) = list_items_open(text)?;
        let head = &text[..=open];
        // Checked strictly now, so that a break here is found before any item is put in place, as a whole read
        // finds it.
        if parse_json(&format!("{head}]}}"), limits, &mut |_| {}).is_some() {
            return None;
        }
        let first_line = 1 + count_lines(head.as_bytes());
        let head = ListHead { text: head.to_string(), kind: kind.map(str::to_string), first_line };
        input.bytes.drain(..start + open + 1);
        Some(head)
    }
}

/// The text read so far, past a byte order mark (where it starts), up to a character the read may have cut;
/// `None` when it is not UTF-8.
fn text_so_far(bytes: &[u8]) -> Option<(usize, &str)> {
    let start = if bytes.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 };
    match std::str::from_utf8(&bytes[start..]) {
        Ok(text) => Some((start, text)),
        Err(error) if error.error_len().is_none() => {
            std::str::from_utf8(&bytes[start..start + error.valid_up_to()]).ok().map(|text| (start, text))
        }
        Err(_) => None,
    }
}

/// What follows the items: `]`, and the rest of the document.
struct Tail {
    /// Lines from the byte after the items' `[` to their `]`.
    item_lines: u32,
    text: String,
}

/// Cuts the items that `input` holds, from the byte after the `[`, on line `line`, into runs of about `target`
/// bytes and gives them, each with the line it starts on; then reads what follows. `None` when the rest is to be
/// read whole: the items are not as a dump writes them, a run is not UTF-8, a read failed, or giving stopped.
fn cut_runs(
    input: &mut Input,
    first_line: u32,
    target: usize,
    give: &mut dyn FnMut((u32, String)) -> bool,
) -> Option<Tail> {
    // The line that `input.bytes` starts on.
    let mut line = first_line;
    // Where the run being cut starts, and where the next item does.
    let (mut run_start, mut pos): (Option<usize>, usize) = (None, 0);
    loop {
        while input.bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
            pos += 1;
        }
        let (end, separator) = match next_item(&input.bytes, pos) {
            NextItem::Item { end, separator } => (end, separator),
            NextItem::Unusual => return None,
            NextItem::Incomplete if input.ended => return None,
            NextItem::Incomplete => {
                // At least as much again as is pending, so that a long item is scanned a bounded number of times.
                let pending = input.bytes.len() - run_start.unwrap_or(pos);
                if !input.fill(pending.max(input.block)) {
                    return None;
                }
                continue;
            }
        };
        let start = *run_start.get_or_insert(pos);
        let closes = input.bytes[separator] == b']';
        if closes || end - start >= target {
            let run = String::from_utf8(input.bytes[start..end].to_vec()).ok()?;
            let run_line = line + count_lines(&input.bytes[..start]);
            if !give((run_line, run)) {
                return None;
            }
            if closes {
                let item_lines = line + count_lines(&input.bytes[..separator]) - first_line;
                input.fill(usize::MAX).then_some(())?;
                let text = String::from_utf8(input.bytes.split_off(separator)).ok()?;
                return Some(Tail { item_lines, text });
            }
            line += count_lines(&input.bytes[..end]);
            input.bytes.drain(..end);
            (run_start, pos) = (None, separator + 1 - end);
        } else {
            pos = separator + 1;
        }
    }
}
