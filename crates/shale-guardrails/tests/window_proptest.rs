//! Property tests of the streaming post_call window (`shale_guardrails::window`): for any text,
//! any chunking (text chunks of any size, non-text chunks anywhere) and any window sizes whose
//! overlap covers the pattern:
//! - a blocking guardrail: no byte of the first blocked match is ever released, and what is
//!   released is a prefix of the answer;
//! - a passing guardrail: everything is released, in the original order, text unchanged;
//! - a masking guardrail: the released text is the answer with every match masked, once.

use proptest::prelude::*;
use shale_guardrails::{Window, WindowChunk, WindowSizes};

/// A streamed chunk: text, or a numbered non-text chunk (a role, a tool call, usage …).
#[derive(Debug, Clone, PartialEq)]
enum Chunk {
    Text(String),
    Mark(u32),
}

impl WindowChunk for Chunk {
    fn text(&self) -> &str {
        match self {
            Chunk::Text(s) => s,
            Chunk::Mark(_) => "",
        }
    }
    fn split_off_text(&mut self, at: usize) -> Chunk {
        match self {
            Chunk::Text(s) => {
                let rest = s.split_off(at);
                Chunk::Text(std::mem::replace(s, rest))
            }
            Chunk::Mark(_) => panic!("split a chunk without text"),
        }
    }
    fn set_text(&mut self, text: String) {
        match self {
            Chunk::Text(s) => *s = text,
            Chunk::Mark(_) => panic!("set text of a chunk without text"),
        }
    }
    fn only_text(&self) -> bool {
        matches!(self, Chunk::Text(_))
    }
}

/// What the simulated guardrail does with a window's text.
enum Guard {
    /// Blocks when the text contains the pattern.
    Block(&'static str),
    /// Replaces every occurrence of the pattern.
    Mask(&'static str, &'static str),
}

enum End {
    Blocked,
    Done,
}

/// Drives the window the way the server's stream does; returns the released chunks and
/// how the stream ended, and checks the window never holds more than it must.
fn drive(chunks: Vec<Chunk>, sizes: WindowSizes, guard: &Guard) -> (Vec<Chunk>, End) {
    let mut w = Window::new(sizes);
    let mut out = Vec::new();
    let check = |w: &mut Window<Chunk>, out: &mut Vec<Chunk>, last: bool| -> bool {
        let text = w.text();
        match guard {
            Guard::Block(p) if text.contains(p) => {
                w.block();
                return false;
            }
            Guard::Block(_) => w.pass(out),
            Guard::Mask(p, with) if text.contains(p) => w.mask(text.replace(p, with), out),
            Guard::Mask(..) => w.pass(out),
        }
        if last {
            w.finish(out);
        }
        true
    };
    for c in chunks {
        w.push(c, &mut out);
        while w.check_due() {
            if !check(&mut w, &mut out, false) {
                return (out, End::Blocked);
            }
        }
    }
    if w.has_unchecked() {
        if !check(&mut w, &mut out, true) {
            return (out, End::Blocked);
        }
    } else {
        w.finish(&mut out);
    }
    assert!(w.is_empty(), "everything goes out at the end");
    (out, End::Done)
}

fn text_of(chunks: &[Chunk]) -> String {
    chunks.iter().map(Chunk::text).collect()
}

fn marks_of(chunks: &[Chunk]) -> Vec<u32> {
    chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Mark(m) => Some(*m),
            Chunk::Text(_) => None,
        })
        .collect()
}

/// Text made of short pieces (some multi-byte, some the pattern), cut into chunks at arbitrary
/// char boundaries, with non-text chunks in between.
fn stream(pattern: &'static str) -> impl Strategy<Value = (String, Vec<Chunk>)> {
    let piece = prop_oneof![
        4 => "[a-z ]{1,6}",
        1 => Just("é".to_string()),
        1 => Just("😀".to_string()),
        1 => Just(pattern.to_string()),
        1 => Just(pattern[..pattern.len() / 2].to_string()),
    ];
    (
        prop::collection::vec(piece, 0..40),
        prop::collection::vec((1usize..12, prop::bool::weighted(0.2)), 1..80),
    )
        .prop_map(|(pieces, cuts)| {
            let text: String = pieces.concat();
            let chars: Vec<char> = text.chars().collect();
            let mut chunks = Vec::new();
            let (mut at, mut mark) = (0, 0u32);
            let mut cut = cuts.iter().cycle();
            while at < chars.len() {
                let (n, with_mark) = *cut.next().unwrap();
                let end = (at + n).min(chars.len());
                chunks.push(Chunk::Text(chars[at..end].iter().collect()));
                if with_mark {
                    mark += 1;
                    chunks.push(Chunk::Mark(mark));
                }
                at = end;
            }
            // A role-like chunk first and a usage-like chunk last, like real streams.
            chunks.insert(0, Chunk::Mark(0));
            chunks.push(Chunk::Mark(u32::MAX));
            (text, chunks)
        })
}

fn sizes(min_overlap: usize) -> impl Strategy<Value = WindowSizes> {
    (
        min_overlap..min_overlap + 24,
        1usize..40,
        1usize..60,
        prop::bool::weighted(0.15),
    )
        .prop_map(|(overlap, first, window, whole)| WindowSizes {
            first: overlap + first,
            window: if whole { 0 } else { overlap + window },
            overlap,
        })
}

const BAD: &str = "FORBIDDEN";
const SECRET: &str = "SECRET42";

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_byte_of_blocked_text_is_ever_released((text, chunks) in stream(BAD), sizes in sizes(BAD.len())) {
        let (out, end) = drive(chunks, sizes, &Guard::Block(BAD));
        let released = text_of(&out);
        prop_assert!(text.starts_with(&released), "released text is a prefix of the answer");
        match text.find(BAD) {
            Some(first) => {
                prop_assert!(matches!(end, End::Blocked), "a stream with the pattern is blocked");
                prop_assert!(released.len() <= first,
                    "released {} bytes, the blocked match starts at byte {}", released.len(), first);
            }
            None => {
                prop_assert!(matches!(end, End::Done));
                prop_assert_eq!(released, text);
            }
        }
    }

    #[test]
    fn a_passing_stream_goes_out_whole_and_in_order((text, chunks) in stream("zz"), sizes in sizes(2)) {
        let marks = marks_of(&chunks);
        let (out, end) = drive(chunks, sizes, &Guard::Block("\u{0}"));
        prop_assert!(matches!(end, End::Done));
        prop_assert_eq!(text_of(&out), text.clone());
        prop_assert_eq!(marks_of(&out), marks);
        // Non-text chunks keep their place relative to the text: the text released before each
        // mark is what came before it in the stream.
        let mut seen = String::new();
        for c in &out {
            match c {
                Chunk::Text(t) => seen.push_str(t),
                Chunk::Mark(_) => prop_assert!(text.starts_with(&seen)),
            }
        }
    }

    #[test]
    fn masked_matches_never_go_out_unmasked((text, chunks) in stream(SECRET), sizes in sizes(SECRET.len())) {
        let (out, end) = drive(chunks, sizes, &Guard::Mask(SECRET, "{X}"));
        prop_assert!(matches!(end, End::Done));
        let released = text_of(&out);
        prop_assert!(!released.contains(SECRET));
        prop_assert_eq!(released, text.replace(SECRET, "{X}"));
    }
}
