//! `<think>…</think>` reasoning embedded in model text (DeepSeek, Qwen and other open models):
//! split out of a whole answer, or out of a stream of text deltas with a small state machine that
//! holds back only bytes that could start a tag.

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

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ThinkState {
    /// Undecided: is the first text a `<think>` block?
    #[default]
    Start,
    Inside,
    Outside,
}

/// Splits a leading `<think>…</think>` out of streamed text, holding back only the bytes that
/// could be the start of a tag.
#[derive(Debug, Default)]
pub struct ThinkSplitter {
    state: ThinkState,
    buf: String,
}

/// (reasoning, content) pieces ready to emit.
pub type Split = (Option<String>, Option<String>);

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl ThinkSplitter {
    const OPEN: &'static str = "<think>";
    const CLOSE: &'static str = "</think>";

    /// Feed streamed text; returns what can be emitted now.
    pub fn push(&mut self, text: String) -> Split {
        match self.state {
            ThinkState::Outside => (None, non_empty(text)),
            ThinkState::Inside => self.inside(text),
            ThinkState::Start => {
                self.buf.push_str(&text);
                let t = self.buf.trim_start();
                if t.is_empty() || (t.len() < Self::OPEN.len() && Self::OPEN.starts_with(t)) {
                    (None, None)
                } else if let Some(rest) = t.strip_prefix(Self::OPEN) {
                    let rest = rest.to_owned();
                    self.buf.clear();
                    self.state = ThinkState::Inside;
                    self.inside(rest)
                } else {
                    self.state = ThinkState::Outside;
                    (None, non_empty(std::mem::take(&mut self.buf)))
                }
            }
        }
    }

    fn inside(&mut self, text: String) -> Split {
        self.buf.push_str(&text);
        if let Some(pos) = self.buf.find(Self::CLOSE) {
            let rest = self.buf[pos + Self::CLOSE.len()..].trim_start().to_owned();
            self.buf.truncate(pos);
            self.state = ThinkState::Outside;
            return (non_empty(std::mem::take(&mut self.buf)), non_empty(rest));
        }
        let hold = (1..Self::CLOSE.len().min(self.buf.len() + 1))
            .rev()
            .find(|&k| self.buf.ends_with(&Self::CLOSE[..k]))
            .unwrap_or(0);
        let keep = self.buf.split_off(self.buf.len() - hold);
        let out = std::mem::replace(&mut self.buf, keep);
        (non_empty(out), None)
    }

    /// Emit whatever is held back (at the end of a text block or stream).
    pub fn flush(&mut self) -> Split {
        let buf = std::mem::take(&mut self.buf);
        match self.state {
            ThinkState::Inside => (non_empty(buf), None),
            ThinkState::Start => {
                if !buf.is_empty() {
                    self.state = ThinkState::Outside;
                }
                (None, non_empty(buf))
            }
            ThinkState::Outside => (None, non_empty(buf)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(parts: &[&str]) -> (String, String) {
        let mut s = ThinkSplitter::default();
        let (mut r, mut c) = (String::new(), String::new());
        let mut take = |(a, b): Split| {
            r.push_str(&a.unwrap_or_default());
            c.push_str(&b.unwrap_or_default());
        };
        for p in parts {
            take(s.push((*p).to_owned()));
        }
        take(s.flush());
        (r, c)
    }

    #[test]
    fn think_split_across_deltas() {
        assert_eq!(
            run(&["<thi", "nk>abc</th", "ink>\n\nhello"]),
            ("abc".into(), "hello".into())
        );
        assert_eq!(
            run(&["plain ", "<think>x"]),
            ("".into(), "plain <think>x".into())
        );
        assert_eq!(run(&["<", "b>"]), ("".into(), "<b>".into()));
        assert_eq!(
            run(&["<think>never closed <"]),
            ("never closed <".into(), "".into())
        );
    }
}
