//! Lexical facts two texts must share for a semantic hit: embeddings place "refund order 1234"
//! next to "refund order 1243" and "I can" next to "I can't", but a cached answer to one is
//! wrong for the other. The guard keeps the numbers (as a hash), which negation words occur, and
//! a 128-bit signature of the content words: a bag-of-tokens embedding scores "capital of
//! Australia" and "capital of Austria" alike, so a hit also needs most content words in common.

/// Negation words, one bit each; "not", "cannot", "n't" and its apostrophe-less spellings share
/// bit 0 so that "don't" and "do not" agree.
const NEGATIONS: [&str; 10] = [
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere", "without",
];
const NOT_SPELLINGS: [&str; 8] = ["cannot", "dont", "doesnt", "didnt", "isnt", "cant", "wont", "arent"];

/// Function words and request boilerplate left out of the content signature.
const STOPWORDS: &[&str] = &[
    "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "by",
    "can", "could", "describe", "did", "do", "does", "explain", "for", "from", "get", "give", "had",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "just", "know", "let", "like",
    "me", "mean", "meaning", "my", "of", "on", "or", "our", "please", "s", "should", "show", "so",
    "some", "tell", "than", "that", "the", "their", "them", "then", "there", "these", "this",
    "those", "to", "us", "using", "use", "want", "was", "way", "we", "were", "what", "whats",
    "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// Minimum Jaccard overlap of the content-word signatures for a hit (tuned with the threshold,
/// bench/semantic/RESULTS.md).
pub const MIN_CONTENT_OVERLAP: f32 = 0.6;

/// Numbers, negations and content words of a text; see [`MatchGuard::compatible`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatchGuard {
    numbers_hash: u64,
    negations: u16,
    content: u128,
}

/// Encoded length of a guard (`to_bytes`).
pub const GUARD_BYTES: usize = 26;

/// Crude stemming so "lists"/"list" and "sorting"/"sort" share a bit.
fn stem(w: &str) -> &str {
    for suffix in ["ing", "ed", "es", "s"] {
        if w.len() > suffix.len() + 3 {
            if let Some(stem) = w.strip_suffix(suffix) {
                return stem;
            }
        }
    }
    w
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl MatchGuard {
    pub fn from_text(text: &str) -> MatchGuard {
        let lower = text.to_lowercase();
        let mut numbers: Vec<String> = Vec::new();
        let mut negations = 0u16;
        let mut content = 0u128;
        let chars: Vec<char> = lower.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            // Any numeric character, not only ASCII digits: the embedder drops what it has no
            // token for (full-width "１２３４"), so the number is all that tells two orders apart.
            // Digits are kept as written: "１２３４" and "1234" differ (a miss, never a wrong hit).
            if c.is_numeric() {
                // A number: digits with single '.' or ',' between digits ("1,000.5"); the
                // separators are dropped so "1,000" equals "1000".
                let mut n = String::new();
                while i < chars.len() {
                    let d = chars[i];
                    if d.is_numeric() {
                        n.push(d);
                    } else if (d == '.' || d == ',') && chars.get(i + 1).is_some_and(|x| x.is_numeric()) {
                        if d == '.' {
                            n.push('.');
                        }
                    } else {
                        break;
                    }
                    i += 1;
                }
                numbers.push(n);
            } else if c.is_alphabetic() || c == '\'' || c == '’' {
                let mut w = String::new();
                while i < chars.len() && (chars[i].is_alphabetic() || chars[i] == '\'' || chars[i] == '’') {
                    w.push(if chars[i] == '’' { '\'' } else { chars[i] });
                    i += 1;
                }
                if w.ends_with("n't") || NOT_SPELLINGS.contains(&w.as_str()) {
                    negations |= 1;
                } else if let Some(bit) = NEGATIONS.iter().position(|n| *n == w) {
                    negations |= 1 << bit;
                } else {
                    for part in w.split('\'') {
                        if !part.is_empty() && !STOPWORDS.contains(&part) {
                            content |= 1u128 << (fnv1a(stem(part).as_bytes()) >> 57); // top bits mix best
                        }
                    }
                }
            } else {
                i += 1;
            }
        }
        numbers.sort();
        numbers.dedup();
        // FNV-1a over the sorted, separated numbers: stable across builds and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for n in &numbers {
            for b in n.bytes().chain([0xff]) {
                h ^= b as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        MatchGuard { numbers_hash: h, negations, content }
    }

    /// Whether an entry with guard `self` may answer a query with guard `other`: the same
    /// numbers, the same negation words, and content-word overlap ≥ [`MIN_CONTENT_OVERLAP`]
    /// (two texts with no content words overlap fully).
    pub fn compatible(&self, other: &MatchGuard) -> bool {
        if self.numbers_hash != other.numbers_hash || self.negations != other.negations {
            return false;
        }
        let union = (self.content | other.content).count_ones();
        union == 0 || (self.content & other.content).count_ones() as f32 >= MIN_CONTENT_OVERLAP * union as f32
    }

    pub fn to_bytes(&self) -> [u8; GUARD_BYTES] {
        let mut out = [0u8; GUARD_BYTES];
        out[..8].copy_from_slice(&self.numbers_hash.to_le_bytes());
        out[8..10].copy_from_slice(&self.negations.to_le_bytes());
        out[10..].copy_from_slice(&self.content.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<MatchGuard> {
        if bytes.len() != GUARD_BYTES {
            return None;
        }
        Some(MatchGuard {
            numbers_hash: u64::from_le_bytes(bytes[..8].try_into().ok()?),
            negations: u16::from_le_bytes(bytes[8..10].try_into().ok()?),
            content: u128::from_le_bytes(bytes[10..].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        MatchGuard::from_text(a).compatible(&MatchGuard::from_text(b))
    }

    #[test]
    fn most_content_words_must_agree() {
        assert!(same("How do I reverse a list in Python?", "What's the way to reverse Python lists?"));
        assert!(!same("What is the capital of Australia?", "What is the capital of Austria?"));
        assert!(!same("Who wrote Pride and Prejudice?", "Who wrote War and Peace?"));
        assert!(same("hello", "Hello!"));
        assert!(same("", "?"), "no content words on either side");
    }

    #[test]
    fn numbers_must_agree() {
        assert!(same("Refund order 1234 please", "please refund my order #1234"));
        assert!(!same("refund order 1234", "refund order 1243"));
        assert!(!same("top 5 cities", "top 10 cities"));
        assert!(same("costs 1,000 dollars", "cost is 1000 dollars"));
        assert!(!same("version 1.5", "version 15"));
        assert!(same("2 and 3", "3 and 2"), "order of numbers does not matter");
        assert!(!same("no numbers here", "number 0"));
        // Digits beyond ASCII (which the embedder has no tokens for) count as numbers too.
        assert!(!same("注文番号１２３４の返金状況は？", "注文番号５６７８の返金状況は？"));
        assert!(!same("طلب رقم ١٢٣٤", "طلب رقم ٥٦٧٨"));
        assert!(same("注文番号１２３４の返金状況は？", "注文番号１２３４の返金状況は"));
    }

    #[test]
    fn negations_must_agree() {
        assert!(same("Is it safe?", "is this safe"));
        assert!(!same("is it safe", "is it not safe"));
        assert!(!same("I can do it", "I can't do it"));
        assert!(!same("I can do it", "I can’t do it"));
        assert!(same("I don't like it", "I do not like it"));
        assert!(!same("I never liked it", "I did not like it"));
        assert!(!same("with sugar", "without sugar"));
    }

    #[test]
    fn round_trips() {
        let g = MatchGuard::from_text("not 42 apples");
        assert_eq!(MatchGuard::from_bytes(&g.to_bytes()), Some(g));
        assert_eq!(MatchGuard::from_bytes(&[0; 3]), None);
    }
}
