//! `<think>…</think>` reasoning embedded in model text (DeepSeek, Qwen and other open models),
//! split out of a whole answer or, incrementally, out of a stream of text deltas (tags may straddle
//! chunk boundaries). Used by both the Converse and the invoke translators.
//!
//! Two modes: [`ThinkMode::Leading`] splits only a `<think>` block at the very start of the text
//! (Converse models, Qwen, OpenAI-format models and the other prompt families), and
//! [`ThinkMode::Open`] for DeepSeek R1, whose prompt already opens the think block: everything up
//! to `</think>` is reasoning, and a repeated leading `<think>` is dropped.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Split `<think>…</think>` at the start of a text into (reasoning, rest).
pub fn split_think(text: &str) -> Option<(&str, &str)> {
    let t = text.trim_start();
    let inner = t.strip_prefix("<think>")?;
    let end = inner.find("</think>")?;
    Some((
        inner[..end].trim(),
        inner[end + "</think>".len()..].trim_start(),
    ))
}

/// Where the text starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkMode {
    /// Only a leading `<think>` block is reasoning.
    Leading,
    /// The text starts inside a think block (DeepSeek R1).
    Open,
}

/// Split a complete text into (reasoning, content).
///
/// In [`ThinkMode::Open`] a text without `</think>` is all content unless it starts with
/// `<think>` (a response body is complete, so an unclosed block with no tag at all is more likely
/// a model that skipped reasoning).
pub fn split_whole(text: &str, mode: ThinkMode) -> (Option<String>, Option<String>) {
    let t = text.trim_start();
    let (opened, inner) = match t.strip_prefix(OPEN) {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if !opened && mode == ThinkMode::Leading {
        return (None, Some(text.to_owned()));
    }
    match inner.find(CLOSE) {
        Some(end) => (
            non_empty(inner[..end].trim().to_owned()),
            Some(inner[end + CLOSE.len()..].trim_start().to_owned()),
        ),
        None if opened => (non_empty(inner.trim().to_owned()), None),
        None => (None, Some(text.to_owned())),
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Undecided: waiting to see whether the text opens with `<think>`.
    Start,
    Inside,
    Outside,
}

/// (reasoning, content) of one step.
pub type Split = (Option<String>, Option<String>);

/// Incremental splitter: holds back only the bytes that could still be part of a tag.
#[derive(Debug)]
pub struct ThinkSplitter {
    mode: ThinkMode,
    state: State,
    buf: String,
    /// Whitespace right after `<think>` or `</think>` is dropped, even when it arrives in
    /// later chunks.
    skip_ws: bool,
}

impl ThinkSplitter {
    pub fn new(mode: ThinkMode) -> Self {
        ThinkSplitter {
            mode,
            state: State::Start,
            buf: String::new(),
            skip_ws: false,
        }
    }

    /// Feed a text delta.
    pub fn push(&mut self, mut text: &str) -> Split {
        if self.skip_ws && self.state != State::Start {
            text = text.trim_start();
            if text.is_empty() {
                return (None, None);
            }
            self.skip_ws = false;
        }
        match self.state {
            State::Outside => (None, non_empty(text.to_owned())),
            State::Inside => self.inside(text),
            State::Start => {
                self.buf.push_str(text);
                let t = self.buf.trim_start();
                if t.is_empty() || (t.len() < OPEN.len() && OPEN.starts_with(t)) {
                    return (None, None);
                }
                if let Some(rest) = t.strip_prefix(OPEN) {
                    let rest = rest.trim_start().to_owned();
                    self.buf.clear();
                    self.state = State::Inside;
                    self.skip_ws = rest.is_empty();
                    return self.inside(&rest);
                }
                let buf = std::mem::take(&mut self.buf);
                match self.mode {
                    ThinkMode::Leading => {
                        self.state = State::Outside;
                        (None, non_empty(buf))
                    }
                    ThinkMode::Open => {
                        self.state = State::Inside;
                        self.inside(&buf)
                    }
                }
            }
        }
    }

    fn inside(&mut self, text: &str) -> Split {
        self.buf.push_str(text);
        if let Some(pos) = self.buf.find(CLOSE) {
            let rest = self.buf[pos + CLOSE.len()..].trim_start().to_owned();
            self.buf.truncate(pos);
            self.state = State::Outside;
            self.skip_ws = rest.is_empty();
            let reasoning = std::mem::take(&mut self.buf);
            return (non_empty(reasoning.trim_end().to_owned()), non_empty(rest));
        }
        let hold = (1..CLOSE.len().min(self.buf.len() + 1))
            .rev()
            .find(|&k| self.buf.ends_with(&CLOSE[..k]))
            .unwrap_or(0);
        let keep = self.buf.split_off(self.buf.len() - hold);
        let out = std::mem::replace(&mut self.buf, keep);
        (non_empty(out), None)
    }

    /// Release whatever is held back (end of the text).
    pub fn flush(&mut self) -> Split {
        let buf = std::mem::take(&mut self.buf);
        match self.state {
            State::Inside => (non_empty(buf), None),
            State::Start if self.mode == ThinkMode::Open && !buf.trim().is_empty() => {
                self.state = State::Inside;
                (non_empty(buf), None)
            }
            State::Start | State::Outside => (None, non_empty(buf)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: ThinkMode, parts: &[&str]) -> (String, String) {
        let mut s = ThinkSplitter::new(mode);
        let (mut r, mut c) = (String::new(), String::new());
        let mut take = |(a, b): Split| {
            r.push_str(&a.unwrap_or_default());
            c.push_str(&b.unwrap_or_default());
        };
        for p in parts {
            take(s.push(p));
        }
        take(s.flush());
        (r, c)
    }

    #[test]
    fn leading_mode_across_chunks() {
        let l = ThinkMode::Leading;
        assert_eq!(
            run(l, &["<thi", "nk>abc</th", "ink>\n\nhello"]),
            ("abc".into(), "hello".into())
        );
        assert_eq!(
            run(l, &["plain ", "<think>x"]),
            ("".into(), "plain <think>x".into())
        );
        assert_eq!(run(l, &["<", "b>"]), ("".into(), "<b>".into()));
    }

    #[test]
    fn open_mode_for_r1() {
        let o = ThinkMode::Open;
        assert_eq!(
            run(o, &["I should", " greet.</thi", "nk>\n\nHi!"]),
            ("I should greet.".into(), "Hi!".into())
        );
        assert_eq!(
            run(o, &["<think>\nhm", "m\n</think>\n\nok"]),
            ("hmm".into(), "ok".into())
        );
        assert_eq!(
            run(o, &["never closed"]),
            ("never closed".into(), "".into())
        );
    }

    #[test]
    fn whole_text() {
        assert_eq!(
            split_whole("<think>a</think>\n\nb", ThinkMode::Leading),
            (Some("a".into()), Some("b".into()))
        );
        assert_eq!(
            split_whole("a</think>b", ThinkMode::Open),
            (Some("a".into()), Some("b".into()))
        );
        assert_eq!(
            split_whole("a</think>b", ThinkMode::Leading),
            (None, Some("a</think>b".into()))
        );
        assert_eq!(
            split_whole("just text", ThinkMode::Open),
            (None, Some("just text".into()))
        );
    }

    /// Regression: whitespace after `</think>` arriving in a later delta leaked into content.
    #[test]
    fn whitespace_after_close_tag_in_later_delta_is_dropped() {
        assert_eq!(
            run(ThinkMode::Leading, &["<think>abc</think>", "\n\n", "hello"]),
            ("abc".into(), "hello".into())
        );
    }

    #[test]
    fn split_think_whole() {
        assert_eq!(split_think("<think> a </think>\n b"), Some(("a", "b")));
        assert_eq!(split_think("no tags"), None);
    }
}
