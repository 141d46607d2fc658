//! The streaming post_call window: a pure state machine that decides which streamed chunks may go
//! to the client, so that no text is released before a guardrail has seen it — without holding
//! the whole answer.
//!
//! Chunks arrive in order ([`Window::push`]). A chunk without text goes out at once when nothing
//! is held before it; everything else is held. When the held text the guardrail has not seen
//! reaches the window size ([`Window::check_due`]: the first window is smaller, so the first
//! token is not held long), the caller checks *all* held text ([`Window::text`]) and reports the
//! verdict: [`Window::pass`] releases the held chunks except the last `overlap` bytes of text
//! (and what follows them), [`Window::mask`] first replaces the held text by the guardrail's
//! masked text, [`Window::block`] drops everything held. The held tail is checked again as the
//! start of the next window, so a match that straddles two windows is seen whole by the second
//! one *before any of its bytes were released*: for every match of at most `overlap` bytes, the
//! window that first contains its end contains all of it, and everything released before that
//! window ends at least `overlap` bytes before that end. (agentgateway's stream guard flushes a
//! window once it passes and re-checks an overlap that is already out; here the overlap is held,
//! which is what makes the guarantee hold.) At the end of the stream the remaining text is checked
//! once more and everything goes out ([`Window::finish`]).
//!
//! Limits, stated: a policy that needs more context than `window + overlap` bytes (a denied topic
//! spread over a long answer) is judged one window at a time; `window = 0` checks the whole
//! answer once at the end (LiteLLM's behaviour: the first token waits for the last).
//! Text is counted in UTF-8 bytes and never split inside a character.
//!
//! Must not: do I/O or know what a chunk looks like on the wire ([`WindowChunk`] abstracts it).

use std::collections::VecDeque;

/// What the window needs from a streamed chunk (a chat chunk, an Anthropic event, …).
pub trait WindowChunk: Sized {
    /// The answer text this chunk adds (`""` when none).
    fn text(&self) -> &str;
    /// Splits off the first `at` bytes of its text (a char boundary, `0 < at < len`) as a new
    /// chunk that carries only that text and whatever must come first (a role); `self` keeps
    /// the rest of its text and everything else.
    fn split_off_text(&mut self, at: usize) -> Self;
    /// Replaces its text.
    fn set_text(&mut self, text: String);
    /// True when it carries nothing but text (so a chunk whose text is gone can be dropped).
    fn only_text(&self) -> bool;
}

/// Window sizes, in bytes of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSizes {
    /// Unchecked text that triggers the first check.
    pub first: usize,
    /// Unchecked text that triggers each later check; 0 = only at the end.
    pub window: usize,
    /// Checked text held back and checked again with the next window.
    pub overlap: usize,
}

/// Held chunks of one stream and how much of their text was checked.
#[derive(Debug)]
pub struct Window<C> {
    held: VecDeque<C>,
    /// Bytes of text held.
    held_len: usize,
    /// Bytes at the start of the held text that a guardrail already saw.
    checked: usize,
    sizes: WindowSizes,
    passed_once: bool,
}

impl<C: WindowChunk> Window<C> {
    pub fn new(sizes: WindowSizes) -> Window<C> {
        Window {
            held: VecDeque::new(),
            held_len: 0,
            checked: 0,
            sizes,
            passed_once: false,
        }
    }

    /// Takes the next chunk; chunks that may go out now are appended to `out`.
    pub fn push(&mut self, chunk: C, out: &mut Vec<C>) {
        let len = chunk.text().len();
        if len == 0 && self.held.is_empty() {
            out.push(chunk);
            return;
        }
        self.held_len += len;
        self.held.push_back(chunk);
    }

    /// A window is full: check [`Window::text`] now.
    pub fn check_due(&self) -> bool {
        let size = if self.passed_once {
            self.sizes.window
        } else {
            self.sizes.first
        };
        self.sizes.window != 0 && self.held_len - self.checked >= size.max(1)
    }

    /// Some held text has not been checked (the end of the stream needs a last check).
    pub fn has_unchecked(&self) -> bool {
        self.held_len > self.checked
    }

    /// Nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// All held text: what the next check must see.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.held_len);
        for c in &self.held {
            s.push_str(c.text());
        }
        s
    }

    /// The guardrail passed [`Window::text`]: release all but the overlap tail.
    pub fn pass(&mut self, out: &mut Vec<C>) {
        self.release(self.held_len.saturating_sub(self.sizes.overlap), out);
    }

    /// The guardrail masked [`Window::text`] into `masked`: the held text becomes `masked` (on
    /// the first text chunk; the other text-only chunks go), then as [`Window::pass`].
    pub fn mask(&mut self, masked: String, out: &mut Vec<C>) {
        let mut masked = Some(masked);
        let mut kept = VecDeque::with_capacity(self.held.len());
        for mut c in self.held.drain(..) {
            if c.text().is_empty() {
                kept.push_back(c);
                continue;
            }
            match masked.take() {
                Some(text) => {
                    c.set_text(text);
                    kept.push_back(c);
                }
                None if c.only_text() => {}
                None => {
                    c.set_text(String::new());
                    kept.push_back(c);
                }
            }
        }
        self.held = kept;
        self.held_len = self.held.iter().map(|c| c.text().len()).sum();
        self.checked = 0;
        self.pass(out);
    }

    /// The last check passed (or nothing was unchecked): release everything.
    pub fn finish(&mut self, out: &mut Vec<C>) {
        self.release(self.held_len, out);
    }

    /// The guardrail blocked: nothing held may go out.
    pub fn block(&mut self) {
        self.held.clear();
        self.held_len = 0;
        self.checked = 0;
    }

    /// Releases the held chunks up to text byte `upto` (moved down to a char boundary).
    fn release(&mut self, upto: usize, out: &mut Vec<C>) {
        let mut offset = 0;
        while let Some(front) = self.held.front_mut() {
            let len = front.text().len();
            if offset + len <= upto {
                offset += len;
                out.extend(self.held.pop_front());
                continue;
            }
            if offset < upto {
                let text = front.text();
                let mut at = upto - offset;
                while at > 0 && !text.is_char_boundary(at) {
                    at -= 1;
                }
                if at > 0 {
                    offset += at;
                    out.push(front.split_off_text(at));
                }
            }
            break;
        }
        self.held_len -= offset;
        self.checked = self.held_len;
        self.passed_once = true;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A test chunk: text, or a marker standing for a non-text chunk (role, tool call, usage).
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum T {
        Text(String),
        Mark(u32),
    }

    impl WindowChunk for T {
        fn text(&self) -> &str {
            match self {
                T::Text(s) => s,
                T::Mark(_) => "",
            }
        }
        fn split_off_text(&mut self, at: usize) -> T {
            let T::Text(s) = self else { unreachable!() };
            let rest = s.split_off(at);
            T::Text(std::mem::replace(s, rest))
        }
        fn set_text(&mut self, text: String) {
            if let T::Text(s) = self {
                *s = text;
            }
        }
        fn only_text(&self) -> bool {
            matches!(self, T::Text(_))
        }
    }

    fn sizes(first: usize, window: usize, overlap: usize) -> WindowSizes {
        WindowSizes {
            first,
            window,
            overlap,
        }
    }

    fn text_of(chunks: &[T]) -> String {
        chunks.iter().map(|c| c.text()).collect()
    }

    #[test]
    fn non_text_before_any_text_goes_at_once_and_later_ones_wait() {
        let mut w = Window::new(sizes(4, 8, 2));
        let mut out = Vec::new();
        w.push(T::Mark(1), &mut out);
        assert_eq!(out, vec![T::Mark(1)]);
        w.push(T::Text("ab".into()), &mut out);
        w.push(T::Mark(2), &mut out);
        assert_eq!(out.len(), 1, "held behind text");
        assert!(!w.check_due());
        w.push(T::Text("cdef".into()), &mut out);
        assert!(w.check_due());
        assert_eq!(w.text(), "abcdef");
        w.pass(&mut out);
        // 6 bytes checked, the last 2 held back: "ab", mark 2, "cd" go out.
        assert_eq!(
            out,
            vec![
                T::Mark(1),
                T::Text("ab".into()),
                T::Mark(2),
                T::Text("cd".into())
            ]
        );
        assert!(!w.has_unchecked());
        assert_eq!(w.text(), "ef");
        w.finish(&mut out);
        assert_eq!(text_of(&out), "abcdef");
    }

    #[test]
    fn the_first_window_is_smaller_and_utf8_is_never_split() {
        let mut w = Window::new(sizes(3, 10, 1));
        let mut out = Vec::new();
        w.push(T::Text("aéé".into()), &mut out); // 5 bytes
        assert!(w.check_due());
        w.pass(&mut out);
        // Up to byte 4 would split the second é: move back to byte 3.
        assert_eq!(text_of(&out), "aé");
        assert_eq!(w.text(), "é");
        w.push(T::Text("x".repeat(9)), &mut out);
        assert!(!w.check_due(), "9 unchecked < 10");
        w.push(T::Text("y".into()), &mut out);
        assert!(w.check_due());
    }

    #[test]
    fn masking_replaces_all_held_text() {
        let mut w = Window::new(sizes(5, 5, 0));
        let mut out = Vec::new();
        w.push(T::Text("mail ".into()), &mut out);
        w.push(T::Text("a@b".into()), &mut out);
        w.push(T::Mark(7), &mut out);
        assert_eq!(w.text(), "mail a@b");
        w.mask("mail {EMAIL}".into(), &mut out);
        assert_eq!(out, vec![T::Text("mail {EMAIL}".into()), T::Mark(7)]);
        assert!(w.is_empty());
    }

    #[test]
    fn a_block_drops_everything_held() {
        let mut w = Window::new(sizes(2, 2, 1));
        let mut out = Vec::new();
        w.push(T::Text("bad".into()), &mut out);
        w.push(T::Mark(1), &mut out);
        w.block();
        assert!(w.is_empty() && out.is_empty());
    }

    #[test]
    fn window_zero_holds_until_the_end() {
        let mut w = Window::new(sizes(1, 0, 0));
        let mut out = Vec::new();
        for _ in 0..100 {
            w.push(T::Text("abc".into()), &mut out);
            assert!(!w.check_due());
        }
        assert!(out.is_empty() && w.has_unchecked());
        w.finish(&mut out);
        assert_eq!(text_of(&out).len(), 300);
    }
}
