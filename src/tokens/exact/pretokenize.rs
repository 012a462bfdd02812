//! tiktoken's pre-tokenization, hand-written: the text is cut into the pieces that tiktoken's
//! regex (`fancy-regex`, leftmost-first alternation with backtracking) would find, one piece
//! after another, and each piece is then byte-pair encoded on its own.
//!
//! The patterns, exactly as tiktoken-rs 0.12 states them:
//!
//! cl100k_base:
//! ```text
//! '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+
//! |\s++$|\s*[\r\n]|\s+(?!\S)|\s
//! ```
//! o200k_base (one line in the source, broken here at each `|`):
//! ```text
//! [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//! \p{N}{1,3}
//!  ?[^\s\p{L}\p{N}]+[\r\n/]*
//! \s*[\r\n]+
//! \s+(?!\S)
//! \s+
//! ```
//! Every alternative consumes at least one character and every character starts a match of
//! some alternative (the classes cover everything), so the pieces tile the text. Each function
//! below returns where the match starting at `p` ends; the comments say which backtracking
//! path of the regex each branch stands for. `(?i)` folds `s` to `ſ` (U+017F) as well; no other
//! letter in the contractions has a fold outside ASCII (a test checks this against regex-syntax).

use super::unicode::{class_of, Class};

/// Decodes the character starting at byte `i` of valid UTF-8: (code point, next index).
#[inline(always)]
fn decode(t: &[u8], i: usize) -> (u32, usize) {
    let b0 = t[i] as u32;
    if b0 < 0x80 {
        (b0, i + 1)
    } else if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | (t[i + 1] as u32 & 0x3F), i + 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | ((t[i + 1] as u32 & 0x3F) << 6) | (t[i + 2] as u32 & 0x3F), i + 3)
    } else {
        (
            ((b0 & 0x07) << 18)
                | ((t[i + 1] as u32 & 0x3F) << 12)
                | ((t[i + 2] as u32 & 0x3F) << 6)
                | (t[i + 3] as u32 & 0x3F),
            i + 4,
        )
    }
}

#[inline(always)]
fn class(cp: u32) -> Class {
    // Every code point decoded from a `str` is a char; the fallback is never taken.
    class_of(char::from_u32(cp).unwrap_or('\0'))
}

/// The class and end of the character at `i`, or `None` at the end of the text.
#[inline(always)]
fn at(t: &[u8], i: usize) -> Option<(u32, Class, usize)> {
    if i >= t.len() {
        return None;
    }
    let (cp, n) = decode(t, i);
    Some((cp, class(cp), n))
}

/// `[^\r\n\p{L}\p{N}]`
#[inline(always)]
fn is_prefix(cp: u32, k: Class) -> bool {
    cp != '\r' as u32 && cp != '\n' as u32 && !k.is_letter() && k != Class::N
}

/// `[^\s\p{L}\p{N}]`
#[inline(always)]
fn is_punct(k: Class) -> bool {
    !k.is_letter() && k != Class::N && k != Class::Ws
}

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`
#[inline(always)]
fn is_upperish(k: Class) -> bool {
    matches!(k, Class::Lu | Class::Lt | Class::Lm | Class::Lo | Class::M)
}

/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`
#[inline(always)]
fn is_lowerish(k: Class) -> bool {
    matches!(k, Class::Ll | Class::Lm | Class::Lo | Class::M)
}

/// The end of the run of characters from `i` whose class satisfies `f`.
#[inline(always)]
fn run(t: &[u8], mut i: usize, f: impl Fn(Class) -> bool) -> usize {
    while i < t.len() {
        let b = t[i];
        if b < 0x80 {
            if !f(class(b as u32)) {
                break;
            }
            i += 1;
        } else {
            let (cp, n) = decode(t, i);
            if !f(class(cp)) {
                break;
            }
            i = n;
        }
    }
    i
}

/// Up to three `\p{N}` from `i` (the first is known to be one).
#[inline(always)]
fn digits(t: &[u8], p: usize) -> usize {
    let mut i = p;
    for _ in 0..3 {
        match at(t, i) {
            Some((_, Class::N, n)) => i = n,
            _ => break,
        }
    }
    i
}

#[inline(always)]
fn ascii_lower(t: &[u8], i: usize) -> u8 {
    t.get(i).map_or(0, |b| b.to_ascii_lowercase())
}

/// `'s|'t|'re|'ve|'m|'ll|'d` case-insensitively at `e` (o200k's optional suffix): new end.
#[inline(always)]
fn contraction(t: &[u8], e: usize) -> usize {
    if t.get(e) != Some(&b'\'') {
        return e;
    }
    match ascii_lower(t, e + 1) {
        b's' | b't' | b'm' | b'd' => e + 2,
        b'r' | b'v' if ascii_lower(t, e + 2) == b'e' => e + 3,
        b'l' if ascii_lower(t, e + 2) == b'l' => e + 3,
        // ſ (U+017F, UTF-8 C5 BF) folds to s.
        0xC5 if t.get(e + 2) == Some(&0xBF) => e + 3,
        _ => e,
    }
}

/// o200k's first alternative from `s` (after the optional prefix):
/// `[upperish]*[lowerish]+contraction?`. `U*` is greedy and backtracks: it first takes the whole
/// upperish run; `[lowerish]+` must then start at the character after it (only an `Ll` can:
/// `Lm Lo M` are upperish too and would have been taken), or, giving back characters one at a
/// time, at the last `Lm Lo M` inside the run, where it can match that single character only
/// (what follows it in the run is `Lu`/`Lt`, or the character already rejected).
#[inline(always)]
fn o200k_word_lower(t: &[u8], s: usize) -> Option<usize> {
    let mut i = s;
    let mut last_both = None;
    while let Some((_, k, n)) = at(t, i) {
        if !is_upperish(k) {
            break;
        }
        if matches!(k, Class::Lm | Class::Lo | Class::M) {
            last_both = Some(n);
        }
        i = n;
    }
    let e = match at(t, i) {
        Some((_, Class::Ll, n)) => run(t, n, is_lowerish),
        _ => last_both?,
    };
    Some(contraction(t, e))
}

/// o200k's second alternative from `s`: `[upperish]+[lowerish]*contraction?` (no backtracking
/// can change it: the lowerish part may be empty).
#[inline(always)]
fn o200k_word_upper(t: &[u8], s: usize) -> Option<usize> {
    match at(t, s) {
        Some((_, k, n)) if is_upperish(k) => {
            let m = run(t, n, is_upperish);
            Some(contraction(t, run(t, m, is_lowerish)))
        }
        _ => None,
    }
}

/// ` ?[^\s\p{L}\p{N}]+` then a run of `tail` bytes (o200k `[\r\n/]*`, cl100k `[\r\n]*`).
#[inline(always)]
fn punct(t: &[u8], p: usize, cp0: u32, k0: Class, n0: usize, tail: &[u8]) -> Option<usize> {
    let s = match at(t, n0) {
        Some((_, k1, _)) if cp0 == ' ' as u32 && is_punct(k1) => n0,
        _ if is_punct(k0) => p,
        _ => return None,
    };
    let mut i = run(t, s, is_punct);
    while i < t.len() && tail.contains(&t[i]) {
        i += 1;
    }
    Some(i)
}

/// The whitespace run from `p`: (its end, the end of its last `\r` or `\n`, the start of its
/// last character).
#[inline(always)]
fn whitespace(t: &[u8], p: usize) -> (usize, Option<usize>, usize) {
    let mut i = p;
    let mut last_newline_end = None;
    let mut last_start = p;
    while let Some((cp, Class::Ws, n)) = at(t, i) {
        if cp == '\r' as u32 || cp == '\n' as u32 {
            last_newline_end = Some(n);
        }
        last_start = i;
        i = n;
    }
    (i, last_newline_end, last_start)
}

/// The end of the o200k_base piece that starts at `p < t.len()`.
pub fn o200k_piece_end(t: &[u8], p: usize) -> usize {
    let (cp0, k0, n0) = at(t, p).expect("p is inside the text");
    // Common cases first: they are what the full procedure below would find, and cheap.
    let prefix = is_prefix(cp0, k0);
    // Alternative 1, the optional prefix taken, then not taken.
    if prefix {
        if let Some(e) = o200k_word_lower(t, n0) {
            return e;
        }
    }
    if is_upperish(k0) || k0 == Class::Ll {
        if let Some(e) = o200k_word_lower(t, p) {
            return e;
        }
    }
    // Alternative 2, likewise.
    if prefix {
        if let Some(e) = o200k_word_upper(t, n0) {
            return e;
        }
    }
    if let Some(e) = o200k_word_upper(t, p) {
        return e;
    }
    // \p{N}{1,3}
    if k0 == Class::N {
        return digits(t, p);
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n/]*
    if let Some(e) = punct(t, p, cp0, k0, n0, b"\r\n/") {
        return e;
    }
    // Only whitespace is left.
    let (q, last_newline_end, last_start) = whitespace(t, p);
    if let Some(e) = last_newline_end {
        // \s*[\r\n]+ : \s* gives back characters until the last newline of the run.
        return e;
    }
    if q == t.len() || last_start == p {
        // \s+(?!\S) at the end of the text, or \s+ for a single whitespace character.
        return q;
    }
    // \s+(?!\S) : all but the last whitespace character, which goes with what follows.
    last_start
}

/// The end of the cl100k_base piece that starts at `p < t.len()`.
pub fn cl100k_piece_end(t: &[u8], p: usize) -> usize {
    let (cp0, k0, n0) = at(t, p).expect("p is inside the text");
    // '(?i:[sdmt]|ll|ve|re)
    if cp0 == '\'' as u32 {
        match ascii_lower(t, n0) {
            b's' | b'd' | b'm' | b't' => return n0 + 1,
            b'l' if ascii_lower(t, n0 + 1) == b'l' => return n0 + 2,
            b'v' | b'r' if ascii_lower(t, n0 + 1) == b'e' => return n0 + 2,
            0xC5 if t.get(n0 + 1) == Some(&0xBF) => return n0 + 2, // ſ
            _ => {}
        }
    }
    // [^\r\n\p{L}\p{N}]?+\p{L}++ : the possessive prefix, once taken, is never given back.
    if is_prefix(cp0, k0) {
        if let Some((_, k1, n1)) = at(t, n0) {
            if k1.is_letter() {
                return run(t, n1, Class::is_letter);
            }
        }
    } else if k0.is_letter() {
        return run(t, n0, Class::is_letter);
    }
    // \p{N}{1,3}+
    if k0 == Class::N {
        return digits(t, p);
    }
    //  ?[^\s\p{L}\p{N}]++[\r\n]*+
    if let Some(e) = punct(t, p, cp0, k0, n0, b"\r\n") {
        return e;
    }
    let (q, last_newline_end, last_start) = whitespace(t, p);
    if q == t.len() {
        return q; // \s++$
    }
    if let Some(e) = last_newline_end {
        return e; // \s*[\r\n]
    }
    if last_start == p {
        return q; // \s
    }
    last_start // \s+(?!\S)
}

/// The pieces of `text`, in order, for a piece-end function above.
pub fn pieces(text: &str, end: fn(&[u8], usize) -> usize) -> impl Iterator<Item = &[u8]> {
    let t = text.as_bytes();
    let mut p = 0;
    std::iter::from_fn(move || {
        if p >= t.len() {
            return None;
        }
        let e = end(t, p);
        let piece = &t[p..e];
        p = e;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, end: fn(&[u8], usize) -> usize) -> Vec<&str> {
        pieces(text, end).map(|p| std::str::from_utf8(p).unwrap()).collect()
    }

    #[test]
    fn o200k_examples() {
        assert_eq!(split("Hello world", o200k_piece_end), ["Hello", " world"]);
        assert_eq!(split("I'LL don't  go\n\n x", o200k_piece_end), ["I'LL", " don't", " ", " go", "\n\n", " x"]);
        assert_eq!(split("12345 ab/\n//", o200k_piece_end), ["123", "45", " ab", "/\n//"]);
        assert_eq!(split("HTTPServer  ", o200k_piece_end), ["HTTPServer", "  "]);
    }

    #[test]
    fn cl100k_examples() {
        assert_eq!(split("Hello world", cl100k_piece_end), ["Hello", " world"]);
        assert_eq!(split("I'LL don't  go\n\n x", cl100k_piece_end), ["I", "'LL", " don", "'t", " ", " go", "\n\n", " x"]);
        assert_eq!(split("12345  \n", cl100k_piece_end), ["123", "45", "  \n"]);
    }
}
