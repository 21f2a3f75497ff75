//! Lines out of a byte stream, and the payloads made of them. Pure code: the follower feeds it what it
//! reads, in chunks cut anywhere.
//!
//! - A line ends at `\n`; one `\r` before it is dropped too (CRLF). The bytes after the last `\n` are
//!   held until their newline comes, or until the input is finished ([`Lines::finish`]).
//! - A line longer than the limit is cut to it and the rest up to its newline discarded, so memory is
//!   bounded whatever the input; such lines are counted.

/// Splits chunks of bytes into lines.
#[derive(Debug)]
pub struct Lines {
    /// The start of the line being read, up to `max_line` bytes.
    partial: Vec<u8>,
    /// Bytes since the last newline, discarded ones included: the held part of the input.
    held: u64,
    max_line: usize,
    /// The line being read is over `max_line`: the rest of it is discarded.
    overflow: bool,
    /// Lines that were cut to `max_line`.
    cut: u64,
}

impl Lines {
    /// Lines of at most `max_line` bytes (at least 1).
    pub fn new(max_line: usize) -> Self {
        Self {
            partial: Vec::new(),
            held: 0,
            max_line: max_line.max(1),
            overflow: false,
            cut: 0,
        }
    }

    /// Feeds `chunk`; calls `line` with each line it completes, without its end.
    pub fn push(&mut self, mut chunk: &[u8], mut line: impl FnMut(&[u8])) {
        while let Some(i) = chunk.iter().position(|b| *b == b'\n') {
            let (head, rest) = chunk.split_at(i);
            chunk = &rest[1..];
            if self.partial.is_empty() && self.held == 0 && head.len() <= self.max_line {
                // The common case: the whole line is in this chunk, no copy.
                line(strip_cr(head));
                continue;
            }
            self.take(head);
            let mut complete = std::mem::take(&mut self.partial);
            self.held = 0;
            self.overflow = false;
            line(strip_cr(&complete));
            // Keep the allocation for the next long line.
            complete.clear();
            self.partial = complete;
        }
        self.take(chunk);
    }

    /// Ends the input: the held bytes, if any, are its last line (a file that was rotated or
    /// truncated, stdin at its end).
    pub fn finish(&mut self, mut line: impl FnMut(&[u8])) {
        if self.held > 0 {
            let last = std::mem::take(&mut self.partial);
            self.held = 0;
            self.overflow = false;
            line(strip_cr(&last));
        }
    }

    /// Forgets the held bytes (the input restarts elsewhere).
    pub fn clear(&mut self) {
        self.partial.clear();
        self.held = 0;
        self.overflow = false;
    }

    /// Bytes read after the last complete line: the input position of the next line is the read
    /// position minus this.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Lines cut to the limit so far.
    pub fn cut(&self) -> u64 {
        self.cut
    }

    fn take(&mut self, bytes: &[u8]) {
        let room = self.max_line.saturating_sub(self.partial.len());
        if bytes.len() > room && !self.overflow {
            self.overflow = true;
            self.cut += 1;
        }
        self.partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.held += bytes.len() as u64;
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The Avro binary datum of `murron.LogLine {line: string, source: string}`
/// (schemas/murron/LogLine.avsc), appended to `out`. Invalid UTF-8 in the line is replaced by U+FFFD;
/// returns whether it had any.
pub fn log_line_datum(line: &[u8], source: &str, out: &mut Vec<u8>) -> bool {
    let text = String::from_utf8_lossy(line);
    let lossy = matches!(text, std::borrow::Cow::Owned(_));
    avro_string(&text, out);
    avro_string(source, out);
    lossy
}

/// An Avro string: its length as a zig-zag varint, then its UTF-8 bytes.
fn avro_string(s: &str, out: &mut Vec<u8>) {
    // Lengths are far below i64::MAX: a line is bounded by the splitter.
    let n = s.len() as u64;
    let mut zigzag = n << 1;
    while zigzag >= 0x80 {
        out.push((zigzag as u8 & 0x7f) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
    out.extend_from_slice(s.as_bytes());
}

/// Whether `line` is one JSON value (surrounding whitespace allowed).
pub fn is_json(line: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max_line: usize) -> (Vec<String>, Lines) {
        let mut lines = Lines::new(max_line);
        let mut out = Vec::new();
        for c in chunks {
            lines.push(c, |l| out.push(String::from_utf8_lossy(l).into_owned()));
        }
        (out, lines)
    }

    #[test]
    fn a_partial_last_line_is_held_until_its_newline() {
        let (out, lines) = split(&[b"one\ntw", b"o\nthr"], 100);
        assert_eq!(out, ["one", "two"]);
        assert_eq!(lines.held(), 3);
        let (out, lines) = split(&[b"one\ntw", b"o\nthr", b"ee\n"], 100);
        assert_eq!(out, ["one", "two", "three"]);
        assert_eq!(lines.held(), 0);
    }

    #[test]
    fn crlf_ends_a_line_even_when_split_between_chunks() {
        let (out, _) = split(&[b"a\r\nb\r", b"\nc\rd\n", b"\r\n"], 100);
        assert_eq!(out, ["a", "b", "c\rd", ""]);
    }

    #[test]
    fn every_way_of_cutting_the_input_gives_the_same_lines() {
        let input = b"alpha\r\nbeta\n\ngamma delta\nlast";
        let (whole, _) = split(&[input], 100);
        assert_eq!(whole, ["alpha", "beta", "", "gamma delta"]);
        for cut in 0..input.len() {
            let (a, b) = input.split_at(cut);
            let (out, lines) = split(&[a, b], 100);
            assert_eq!(out, whole, "cut at {cut}");
            assert_eq!(lines.held(), 4, "cut at {cut}");
        }
    }

    #[test]
    fn finish_gives_the_held_bytes_as_the_last_line() {
        let mut lines = Lines::new(100);
        let mut out = Vec::new();
        lines.push(b"a\nlast\r", |l| out.push(l.to_vec()));
        lines.finish(|l| out.push(l.to_vec()));
        assert_eq!(out, [b"a".to_vec(), b"last".to_vec()]);
        lines.finish(|l| out.push(l.to_vec()));
        assert_eq!(out.len(), 2, "nothing held, no line");
    }

    #[test]
    fn a_line_over_the_limit_is_cut_and_counted_and_the_next_is_whole() {
        let (out, lines) = split(&[b"0123", b"456789\nok\n"], 4);
        assert_eq!(out, ["0123", "ok"]);
        assert_eq!(lines.cut(), 1);
        let (out, lines) = split(&[b"0123456789\nabcdefgh\nxy\n"], 4);
        assert_eq!(out, ["0123", "abcd", "xy"]);
        assert_eq!(lines.cut(), 2);
    }

    #[test]
    fn held_counts_discarded_bytes_so_positions_stay_exact() {
        let (_, lines) = split(&[b"ok\n0123456789"], 4);
        assert_eq!(lines.held(), 10);
    }

    #[test]
    fn a_log_line_datum_is_two_avro_strings() {
        let mut out = Vec::new();
        assert!(!log_line_datum(b"hi", "app.log", &mut out));
        assert_eq!(out, b"\x04hi\x0eapp.log");
        let long = vec![b'x'; 200];
        out.clear();
        log_line_datum(&long, "", &mut out);
        // 200 zig-zag is 400 = 0x190: varint 0x90 0x03.
        assert_eq!(&out[..2], [0x90, 0x03]);
        assert_eq!(out.len(), 2 + 200 + 1);
        out.clear();
        assert!(log_line_datum(b"a\xffb", "s", &mut out));
        assert_eq!(&out[1..], "a\u{fffd}b\x02s".as_bytes());
    }

    #[test]
    fn json_lines_are_recognised_and_others_are_not() {
        for ok in [&b"{\"a\":1}"[..], b" [1,2] ", b"\"s\"", b"3"] {
            assert!(is_json(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [&b""[..], b"{\"a\":", b"not json", b"{} {}", b"\xff"] {
            assert!(!is_json(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
