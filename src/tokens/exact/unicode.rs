//! The Unicode classes the pre-tokenizer patterns name, for any `char`.
//!
//! The table in `data/unicode_classes.bin` is generated from `regex-syntax`, the crate whose
//! Unicode tables tiktoken's regex engine (`fancy-regex` over `regex`) uses, so a code point
//! assigned in one Unicode version and not another cannot make us disagree with tiktoken.
//! Format: 4,352 bytes, one block number per 256 code points (`0..0x110000 >> 8`), then the
//! blocks, 256 class bytes each. A test rebuilds it from `regex-syntax` and compares.

/// The classes: general categories `Lu Ll Lt Lm Lo`, all marks `M`, all numbers `N`, the
/// `White_Space` property (`\s`), and everything else. They are disjoint (checked by the test).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Class {
    Other = 0,
    Lu = 1,
    Ll = 2,
    Lt = 3,
    Lm = 4,
    Lo = 5,
    M = 6,
    N = 7,
    Ws = 8,
}

pub const CLASS_COUNT: u8 = 9;

const TABLE: &[u8] = include_bytes!("data/unicode_classes.bin");
const STAGE1_LEN: usize = 0x110000 >> 8;

const fn ascii_class(b: u8) -> Class {
    match b {
        b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' => Class::Ws,
        b'A'..=b'Z' => Class::Lu,
        b'a'..=b'z' => Class::Ll,
        b'0'..=b'9' => Class::N,
        _ => Class::Other,
    }
}

const ASCII: [Class; 128] = {
    let mut t = [Class::Other; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = ascii_class(i as u8);
        i += 1;
    }
    t
};

const FROM_BYTE: [Class; 9] =
    [Class::Other, Class::Lu, Class::Ll, Class::Lt, Class::Lm, Class::Lo, Class::M, Class::N, Class::Ws];

#[inline]
pub fn class_of(c: char) -> Class {
    let c = c as u32;
    if c < 128 {
        return ASCII[c as usize];
    }
    let block = TABLE[(c >> 8) as usize] as usize;
    FROM_BYTE[TABLE[STAGE1_LEN + (block << 8) + (c & 0xff) as usize] as usize]
}

impl Class {
    #[inline]
    pub fn is_letter(self) -> bool {
        matches!(self, Class::Lu | Class::Ll | Class::Lt | Class::Lm | Class::Lo)
    }
}

/// Builds the table format above from a class number for every code point (`0..0x110000`).
#[cfg(not(target_arch = "wasm32"))]
pub fn build_table(classes: &[u8]) -> Vec<u8> {
    assert_eq!(classes.len(), 0x110000);
    let mut blocks: Vec<&[u8]> = Vec::new();
    let mut stage1 = Vec::with_capacity(STAGE1_LEN);
    for chunk in classes.chunks(256) {
        let id = match blocks.iter().position(|b| *b == chunk) {
            Some(i) => i,
            None => {
                blocks.push(chunk);
                blocks.len() - 1
            }
        };
        stage1.push(u8::try_from(id).expect("at most 256 distinct blocks"));
    }
    let mut out = stage1;
    for b in blocks {
        out.extend_from_slice(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_fast_path_agrees_with_table() {
        for b in 0u8..128 {
            let block = TABLE[0] as usize;
            assert_eq!(ASCII[b as usize] as u8, TABLE[STAGE1_LEN + (block << 8) + b as usize], "byte {b}");
        }
    }
}
