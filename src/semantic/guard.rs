//! Lexical facts two texts must share for a semantic hit: embeddings place "refund order 1234"
//! next to "refund order 1243" and "I can" next to "I can't", but a cached answer to one is
//! wrong for the other. A static embedding is a bag of tokens, blind to word order and to the
//! symbols between numbers, so the guard keeps:
//! - the figures in order (numbers, number and ordinal words, arithmetic and comparison signs,
//!   currency signs, codes and names, Roman numerals after a name), as a hash: "7-2" is not
//!   "7+2", "the first president" not "the second", "$100" not "€100", "World War I" not
//!   "World War II";
//! - the proper names (capitalised words other than a sentence's first and "I"): each must be
//!   among the other text's words, so "my landlord John Peterson" is not "my landlord Mark
//!   Peterson", though every other word agrees;
//! - which negation words occur, and which polar words (ascending / descending, older /
//!   younger, encrypt / decrypt...), one bit each: "sort ascending" is not "sort descending";
//! - a 128-bit signature of the content words, of which most must be shared ("capital of
//!   Australia" is not "capital of Austria");
//! - the symbols the embedder has no token for (emoji, arrows, mathematical signs), in order with
//!   the figures: "what does 👍 mean?" is not "what does 👎 mean?", though both embed as "what
//!   does mean?";
//! - the accents of a word both texts hold: the static embedder strips them ("papá", my father,
//!   embeds as "papa", the Pope), so a word written with other accents, or none, in the other
//!   text is a miss;
//! - the words next to a relation word ("to", "than", "from", "vs", "with", "in", "as"...): when both texts use the
//!   relation once, with words on both sides of it, a word next to it in one text must not stand
//!   on its other side in the other ("convert USD to EUR" is not "convert EUR to USD", nor "is
//!   Alice older than Bob" "is Bob older than Alice"), while the rest of a sentence may move
//!   ("polyploid is an individual with more than..." / "an individual with more than ... is a
//!   polyploid").
//!
//! Precision before recall: a miss costs one model call; a wrong hit serves a wrong answer.

/// Negation words, one bit each; "not", "cannot", "n't" and its apostrophe-less spellings share
/// bit 0 so that "don't" and "do not" agree.
const NEGATIONS: [&str; 10] = [
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere", "without",
];
const NOT_SPELLINGS: [&str; 8] = ["cannot", "dont", "doesnt", "didnt", "isnt", "cant", "wont", "arent"];

/// Words that name a number, a rank or an operation: part of the figures, in order, like digits.
const FIGURE_WORDS: &[&str] = &[
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty",
    "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion",
    "trillion", "half", "quarter", "double", "triple", "twice", "first", "second", "third", "fourth", "fifth",
    "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth",
    "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth", "thirtieth",
    "fortieth", "fiftieth", "sixtieth", "seventieth", "eightieth", "ninetieth", "hundredth", "thousandth",
    "millionth", "billionth", "zeroth", "dozen", "dozens", "last", "penultimate", "plus", "minus",
    "multiplied", "divided", "squared", "cubed",
    // Currencies: "100 dollars" is not "100 euros", as "$100" is not "€100".
    "dollar", "dollars", "euro", "euros", "pound", "pounds", "sterling", "pence", "yen", "yuan",
    "renminbi", "rupee", "rupees", "franc", "francs", "peso", "pesos", "ruble", "rubles", "rouble",
    "roubles", "bitcoin", "bitcoins",
];

/// ISO 4217 codes of the currencies most asked about, in any case: figures like the signs. Codes
/// that are also English words ("try", "all", "top", "cup", "cop") or names ("php") are left out.
const CURRENCY_CODES: &[&str] = &[
    "usd", "eur", "gbp", "jpy", "cny", "rmb", "chf", "cad", "aud", "nzd", "inr", "krw", "rub", "brl",
    "mxn", "sek", "nok", "dkk", "pln", "zar", "hkd", "sgd", "czk", "huf", "ils", "aed", "thb", "uah",
    "ngn", "btc",
];

/// Currency signs: a figure of their own, so the amount after (or before) one keeps its currency.
const CURRENCY_SIGNS: &[char] = &['$', '€', '£', '¥', '₹', '₩', '₽', '₺', '₪', '₫', '₴', '₦', '฿', '¢', '₱', '₿', '￥', '＄'];

/// Accented words a guard keeps; a text with more is matched by nothing.
const MAX_ACCENTED: usize = 16;

/// `MatchGuard::accented_len` of a text with more than [`MAX_ACCENTED`] accented words.
const TOO_MANY_ACCENTED: u8 = u8::MAX;

/// Lower-case Latin letters with diacritics and their base letters (Latin-1, Latin Extended-A
/// and -B, Latin Extended Additional: Spanish, Portuguese, French, German, the Slavic and Baltic
/// languages, Turkish, Vietnamese), as the embedder's own table folds them; sorted.
const LATIN_FOLDS: [(char, char); 252] = [
    ('à', 'a'), ('á', 'a'), ('â', 'a'), ('ã', 'a'), ('ä', 'a'), ('å', 'a'), ('ç', 'c'), ('è', 'e'), ('é', 'e'), ('ê', 'e'), ('ë', 'e'), ('ì', 'i'),
    ('í', 'i'), ('î', 'i'), ('ï', 'i'), ('ñ', 'n'), ('ò', 'o'), ('ó', 'o'), ('ô', 'o'), ('õ', 'o'), ('ö', 'o'), ('ø', 'o'), ('ù', 'u'), ('ú', 'u'),
    ('û', 'u'), ('ü', 'u'), ('ý', 'y'), ('ÿ', 'y'), ('ā', 'a'), ('ă', 'a'), ('ą', 'a'), ('ć', 'c'), ('ĉ', 'c'), ('ċ', 'c'), ('č', 'c'), ('ď', 'd'),
    ('đ', 'd'), ('ē', 'e'), ('ĕ', 'e'), ('ė', 'e'), ('ę', 'e'), ('ě', 'e'), ('ĝ', 'g'), ('ğ', 'g'), ('ġ', 'g'), ('ģ', 'g'), ('ĥ', 'h'), ('ħ', 'h'),
    ('ĩ', 'i'), ('ī', 'i'), ('ĭ', 'i'), ('į', 'i'), ('ı', 'i'), ('ĵ', 'j'), ('ķ', 'k'), ('ĺ', 'l'), ('ļ', 'l'), ('ľ', 'l'), ('ł', 'l'), ('ń', 'n'),
    ('ņ', 'n'), ('ň', 'n'), ('ō', 'o'), ('ŏ', 'o'), ('ő', 'o'), ('ŕ', 'r'), ('ŗ', 'r'), ('ř', 'r'), ('ś', 's'), ('ŝ', 's'), ('ş', 's'), ('š', 's'),
    ('ţ', 't'), ('ť', 't'), ('ŧ', 't'), ('ũ', 'u'), ('ū', 'u'), ('ŭ', 'u'), ('ů', 'u'), ('ű', 'u'), ('ų', 'u'), ('ŵ', 'w'), ('ŷ', 'y'), ('ź', 'z'),
    ('ż', 'z'), ('ž', 'z'), ('ơ', 'o'), ('ư', 'u'), ('ǎ', 'a'), ('ǐ', 'i'), ('ǒ', 'o'), ('ǔ', 'u'), ('ǖ', 'u'), ('ǘ', 'u'), ('ǚ', 'u'), ('ǜ', 'u'),
    ('ǟ', 'a'), ('ǡ', 'a'), ('ǧ', 'g'), ('ǩ', 'k'), ('ǫ', 'o'), ('ǭ', 'o'), ('ǰ', 'j'), ('ǵ', 'g'), ('ǹ', 'n'), ('ǻ', 'a'), ('ȁ', 'a'), ('ȃ', 'a'),
    ('ȅ', 'e'), ('ȇ', 'e'), ('ȉ', 'i'), ('ȋ', 'i'), ('ȍ', 'o'), ('ȏ', 'o'), ('ȑ', 'r'), ('ȓ', 'r'), ('ȕ', 'u'), ('ȗ', 'u'), ('ș', 's'), ('ț', 't'),
    ('ȟ', 'h'), ('ȧ', 'a'), ('ȩ', 'e'), ('ȫ', 'o'), ('ȭ', 'o'), ('ȯ', 'o'), ('ȱ', 'o'), ('ȳ', 'y'), ('ḁ', 'a'), ('ḃ', 'b'), ('ḅ', 'b'), ('ḇ', 'b'),
    ('ḉ', 'c'), ('ḋ', 'd'), ('ḍ', 'd'), ('ḏ', 'd'), ('ḑ', 'd'), ('ḓ', 'd'), ('ḕ', 'e'), ('ḗ', 'e'), ('ḙ', 'e'), ('ḛ', 'e'), ('ḝ', 'e'), ('ḟ', 'f'),
    ('ḡ', 'g'), ('ḣ', 'h'), ('ḥ', 'h'), ('ḧ', 'h'), ('ḩ', 'h'), ('ḫ', 'h'), ('ḭ', 'i'), ('ḯ', 'i'), ('ḱ', 'k'), ('ḳ', 'k'), ('ḵ', 'k'), ('ḷ', 'l'),
    ('ḹ', 'l'), ('ḻ', 'l'), ('ḽ', 'l'), ('ḿ', 'm'), ('ṁ', 'm'), ('ṃ', 'm'), ('ṅ', 'n'), ('ṇ', 'n'), ('ṉ', 'n'), ('ṋ', 'n'), ('ṍ', 'o'), ('ṏ', 'o'),
    ('ṑ', 'o'), ('ṓ', 'o'), ('ṕ', 'p'), ('ṗ', 'p'), ('ṙ', 'r'), ('ṛ', 'r'), ('ṝ', 'r'), ('ṟ', 'r'), ('ṡ', 's'), ('ṣ', 's'), ('ṥ', 's'), ('ṧ', 's'),
    ('ṩ', 's'), ('ṫ', 't'), ('ṭ', 't'), ('ṯ', 't'), ('ṱ', 't'), ('ṳ', 'u'), ('ṵ', 'u'), ('ṷ', 'u'), ('ṹ', 'u'), ('ṻ', 'u'), ('ṽ', 'v'), ('ṿ', 'v'),
    ('ẁ', 'w'), ('ẃ', 'w'), ('ẅ', 'w'), ('ẇ', 'w'), ('ẉ', 'w'), ('ẋ', 'x'), ('ẍ', 'x'), ('ẏ', 'y'), ('ẑ', 'z'), ('ẓ', 'z'), ('ẕ', 'z'), ('ẖ', 'h'),
    ('ẗ', 't'), ('ẘ', 'w'), ('ẙ', 'y'), ('ạ', 'a'), ('ả', 'a'), ('ấ', 'a'), ('ầ', 'a'), ('ẩ', 'a'), ('ẫ', 'a'), ('ậ', 'a'), ('ắ', 'a'), ('ằ', 'a'),
    ('ẳ', 'a'), ('ẵ', 'a'), ('ặ', 'a'), ('ẹ', 'e'), ('ẻ', 'e'), ('ẽ', 'e'), ('ế', 'e'), ('ề', 'e'), ('ể', 'e'), ('ễ', 'e'), ('ệ', 'e'), ('ỉ', 'i'),
    ('ị', 'i'), ('ọ', 'o'), ('ỏ', 'o'), ('ố', 'o'), ('ồ', 'o'), ('ổ', 'o'), ('ỗ', 'o'), ('ộ', 'o'), ('ớ', 'o'), ('ờ', 'o'), ('ở', 'o'), ('ỡ', 'o'),
    ('ợ', 'o'), ('ụ', 'u'), ('ủ', 'u'), ('ứ', 'u'), ('ừ', 'u'), ('ử', 'u'), ('ữ', 'u'), ('ự', 'u'), ('ỳ', 'y'), ('ỵ', 'y'), ('ỷ', 'y'), ('ỹ', 'y'),
];

/// Whether `c` is a symbol the embedder has no token for: the blocks of arrows, mathematical
/// operators, technical and miscellaneous symbols, dingbats and emoji, and ©, ®, °.
fn is_symbol(c: char) -> bool {
    !c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && !is_mark(c) && !UNICODE_PUNCTUATION.contains(&c) && !SENTENCE_ENDS.contains(&c)
}

/// Punctuation outside ASCII: no symbol.
const UNICODE_PUNCTUATION: &[char] = &[
    '¿', '¡', '«', '»', '‹', '›', '—', '–', '‐', '‑', '‒', '―', '“', '”', '„', '‟', '‘', '‚', '‛', '·', '•', '、', '，', '；',
    '（', '）', '【', '】', '《', '》', '「', '」', '『', '』', '〈', '〉', '〔', '〕', '・', '\u{00A0}',
];

/// A mark that belongs to the letters around it rather than standing for anything: combining
/// diacritics (an accent typed as its own character, part of its word: see `folded`), the
/// vowel signs, viramas and tone marks of the Brahmic, Thai, Lao, Tibetan, Myanmar and Khmer
/// scripts and the points of Hebrew and Arabic, kana voicing marks, joiners and variation
/// selectors.
fn is_mark(c: char) -> bool {
    is_combining_diacritic(c)
        || matches!(c as u32, 0x0591..=0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED
            | 0x0900..=0x0DFF | 0x0E00..=0x0FFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x3099 | 0x309A
            | 0x200B..=0x200F | 0x2060..=0x2064 | 0xFE00..=0xFE0F | 0xFEFF | 0xE0100..=0xE01EF)
}

/// Diacritics typed as characters of their own (decomposed text: "avo" + U+0302 for "avô").
fn is_combining_diacritic(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// `word` without its diacritics, if it has any: precomposed letters folded, diacritics typed
/// as characters of their own dropped.
fn folded(word: &str) -> Option<String> {
    let fold = |c: char| LATIN_FOLDS.binary_search_by(|(from, _)| from.cmp(&c)).map_or(c, |i| LATIN_FOLDS[i].1);
    word.chars().any(|c| fold(c) != c || is_combining_diacritic(c)).then(|| word.chars().filter(|c| !is_combining_diacritic(*c)).map(fold).collect())
}

/// Where a sentence ends: the word after one is capitalised whatever it is, so it is not taken
/// for a name.
const SENTENCE_ENDS: &[char] = &['.', '!', '?', '…', ':', '\n', '。', '！', '？', '：'];

/// Words whose full stop ends no sentence: titles and the like before a name ("Mr. Smith").
const ABBREVIATIONS: &[&str] = &["mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "mt", "no", "vs", "etc", "approx", "dept", "rev", "gen", "col", "capt", "lt", "sgt", "hon", "fr"];

/// Words of German that English lacks (or, "die" aside, rarely writes): two of them, and the
/// text's capitals are its nouns, not names.
const GERMAN_FUNCTION_WORDS: &[&str] = &["der", "die", "das", "und", "ist", "nicht", "ein", "eine", "einen", "mit", "für", "wie", "ich", "zu", "den", "dem", "im", "auf", "sie", "wir", "kann", "mein", "meine", "ihr", "sind", "auch", "oder", "aus", "bei", "nach", "von"];

/// Proper names a guard keeps; a text with more is matched by nothing (it is no short question,
/// and which of its names a paraphrase keeps cannot be told).
const MAX_NAMES: usize = 16;

/// `MatchGuard::names_len` of a text with more than [`MAX_NAMES`] names.
const TOO_MANY_NAMES: u8 = u8::MAX;

/// Signs that are figures: arithmetic and comparison. `-` and `/` between two letters are
/// spelling ("e-mail", "and/or"), not signs.
const FIGURE_SIGNS: &[char] = &['+', '-', '*', '/', '×', '÷', '<', '>', '=', '≤', '≥', '≠', '^', '%'];

/// Words whose opposite changes the answer while the embedding barely moves; at most 128, one
/// bit each. Both texts must use the same ones.
const POLAR_WORDS: &[&str] = &[
    "ascending", "descending", "increasing", "decreasing", "asc", "desc", "min", "max", "minimum",
    "maximum", "smallest", "largest", "biggest", "highest", "lowest", "most", "least", "more", "less",
    "fewer", "greater", "bigger", "smaller", "larger", "higher", "lower", "longer", "shorter", "older",
    "younger", "newer", "earlier", "later", "before", "after", "above", "below", "best", "worst",
    "fastest", "slowest", "true", "false", "left", "right", "north", "south", "east", "west", "buy", "sell",
    "encrypt", "decrypt", "encode", "decode", "import", "export", "upload", "download", "enable", "disable",
    "inside", "outside", "install", "uninstall", "create", "delete", "add", "remove", "read", "write",
    "start", "stop", "open", "close", "push", "pull", "split", "join", "key", "value", "boiling", "freezing",
];

/// Words that relate what stands before them to what stands after; at most 16, one bit each.
/// "replace tabs with spaces", "100 celsius in fahrenheit", "use let instead of var", "cast an
/// int as a string", "rebase main on feature": the embedder is a bag of tokens, blind to which
/// side each word is on, so only these tell such a question from its mirror.
const RELATIONS: [&str; 14] = ["to", "than", "from", "into", "vs", "versus", "against", "per", "with", "in", "as", "on", "over", "instead"];

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

/// Content words whose side of each relation is kept (the first ones of the text, each once).
const ORDERED_WORDS: usize = 16;

/// Figures, negations, polar words and content words of a text; see [`MatchGuard::compatible`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchGuard {
    figures_hash: u64,
    negations: u16,
    polar: u128,
    content: u128,
    /// The first [`ORDERED_WORDS`] distinct content words, in order, as 16-bit hashes.
    order: [u16; ORDERED_WORDS],
    order_len: u8,
    /// The relations the text uses exactly once (bit i: `RELATIONS[i]`).
    relations: u16,
    /// For each relation used once, which of `order`'s words come after it (bit j: `order[j]`).
    after: [u16; RELATIONS.len()],
    /// For each relation used once, the `order` index of the content word just before it and
    /// just after it (`NONE`: no ordered word there).
    neighbours: [[u8; 2]; RELATIONS.len()],
    /// The distinct proper names, as `order`'s 16-bit hashes (so that a name can be looked for
    /// among the other text's words); [`TOO_MANY_NAMES`] past [`MAX_NAMES`].
    names: [u16; MAX_NAMES],
    names_len: u8,
    /// Content words written with diacritics: (the word without them, the word as written), as
    /// `order`'s 16-bit hashes; [`TOO_MANY_ACCENTED`] past [`MAX_ACCENTED`].
    accented: [(u16, u16); MAX_ACCENTED],
    accented_len: u8,
}

/// The guard of a text with no words.
impl Default for MatchGuard {
    fn default() -> Self {
        MatchGuard {
            figures_hash: figures_hash(&[]),
            negations: 0,
            polar: 0,
            content: 0,
            order: [0; ORDERED_WORDS],
            order_len: 0,
            relations: 0,
            after: [0; RELATIONS.len()],
            neighbours: [[NONE; 2]; RELATIONS.len()],
            names: [0; MAX_NAMES],
            names_len: 0,
            accented: [(0, 0); MAX_ACCENTED],
            accented_len: 0,
        }
    }
}

/// Where `to_bytes` puts the number of ordered words (after the figures hash, negations, polar
/// words and content signature).
const ORDER_LEN_AT: usize = 8 + 2 + 16 + 16;

/// No word (in `MatchGuard::neighbours`).
const NONE: u8 = u8::MAX;

/// Where `to_bytes` puts the number of names (after the ordered words and the relations).
const NAMES_LEN_AT: usize = ORDER_LEN_AT + 1 + 2 * ORDERED_WORDS + 2 + 4 * RELATIONS.len();

/// Where `to_bytes` puts the number of accented words (after the names).
const ACCENTED_LEN_AT: usize = NAMES_LEN_AT + 1 + 2 * MAX_NAMES;

/// Encoded length of a guard (`to_bytes`). Entries stored in an older, shorter encoding do not
/// decode, and so are never matched.
pub const GUARD_BYTES: usize = ACCENTED_LEN_AT + 1 + 4 * MAX_ACCENTED;

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

/// The hash of a content word, stemmed: its top 16 bits are the word's id in `order` and
/// `names`, its top 7 bits the word's bit in the content signature. FNV-1a's last byte reaches
/// only its low and middle bits, so the top bits are mixed in (MurmurHash3's finaliser): without
/// it words differing in their last letter ("cat", "car"; "avô", "avó") shared an id and a bit.
fn word_hash(part: &str) -> u64 {
    let mut h = fnv1a(stem(part).as_bytes());
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The value of `word` as a Roman numeral written in capitals ("XIV": 14), if it is one in
/// its usual form ("IIII" and "IC" are not).
fn roman_value(word: &str) -> Option<u32> {
    const NUMERALS: [(u32, &str); 13] = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")];
    if word.is_empty() || !word.chars().all(|c| "IVXLCDM".contains(c)) {
        return None;
    }
    let digits: Vec<i64> = word.chars().map(|c| NUMERALS.iter().find(|(_, s)| s.len() == 1 && s.starts_with(c)).map_or(0, |(v, _)| i64::from(*v))).collect();
    // A digit before a greater one is taken away ("IV"), any other added.
    let sum: i64 = digits.iter().enumerate().map(|(i, d)| if digits.get(i + 1).is_some_and(|next| next > d) { -d } else { *d }).sum();
    let value = u32::try_from(sum).ok()?;
    // Written back in the usual form, it must read the same.
    let mut rest = value;
    let mut usual = String::new();
    for (v, s) in NUMERALS {
        while rest >= v {
            usual.push_str(s);
            rest -= v;
        }
    }
    (value > 0 && usual == word).then_some(value)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a over the figures in order, each closed by 0xff (a byte no UTF-8 text holds): stable
/// across builds and platforms.
fn figures_hash(figures: &[String]) -> u64 {
    let bytes: Vec<u8> = figures.iter().flat_map(|f| f.bytes().chain([0xff])).collect();
    fnv1a(&bytes)
}

impl MatchGuard {
    pub fn from_text(text: &str) -> MatchGuard {
        let mut figures: Vec<String> = Vec::new();
        let mut guard = MatchGuard::default();
        // Occurrences of each relation word so far; a word's side is recorded while it is 1.
        let mut seen_relation = [0u32; RELATIONS.len()];
        // The `order` index of the last content word seen, and the relations still waiting for
        // the word after them.
        let mut last_word = NONE;
        let mut awaiting_right = [false; RELATIONS.len()];
        // A text without lower-case letters (shouted, or in a script without case) says nothing
        // by its capitals.
        let cased = text.chars().any(char::is_lowercase);
        // Whether the next word begins a sentence (its capital is the sentence's), and whether
        // the last thing seen, but for spaces, was a name (a Roman numeral after one is a figure:
        // "World War II", "Henry VIII").
        let mut sentence_start = true;
        let mut after_name = false;
        // The last word, lower-cased: a full stop after an abbreviation or an initial ends no
        // sentence.
        let mut previous = String::new();
        // Whether the last thing seen, but for spaces, was a number: "1)" opens a list item.
        let mut after_number = false;
        // Words past a sentence's first, and those of them capitalised: a text in Title Case tells
        // no names by its capitals; nor does German, which capitalises every noun.
        let (mut later_words, mut capitalised) = (0usize, 0usize);
        let mut german_words = 0u32;
        let chars: Vec<char> = text.chars().collect();
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
                figures.push(n);
                (sentence_start, after_name, after_number) = (false, false, true);
                previous.clear();
            } else if c.is_alphabetic() || c == '\'' || c == '’' {
                let mut written = String::new();
                // A diacritic typed as its own character is part of its word ("avo" + U+0302).
                while i < chars.len() && (chars[i].is_alphabetic() || chars[i] == '\'' || chars[i] == '’' || is_combining_diacritic(chars[i])) {
                    written.push(if chars[i] == '’' { '\'' } else { chars[i] });
                    i += 1;
                }
                // Quotes around a word are not part of it: 'descending' is descending.
                let written = written.trim_matches('\'');
                if written.is_empty() {
                    continue;
                }
                let w = written.to_lowercase();
                let w = w.as_str();
                let starts_sentence = std::mem::replace(&mut sentence_start, false);
                let followed_name = std::mem::replace(&mut after_name, false);
                after_number = false;
                previous = w.to_string();
                if !starts_sentence {
                    later_words += 1;
                    capitalised += usize::from(written.starts_with(char::is_uppercase));
                }
                if let Some(bit) = GERMAN_FUNCTION_WORDS.iter().position(|g| *g == w) {
                    german_words |= 1 << bit;
                }
                // A Roman numeral of I, V and X: after a name ("Louis XIV"; "I" only there, where
                // it is no pronoun), or, of two letters or more, anywhere in a text without case
                // ("WORLD WAR II"). Other letters are acronyms far more often ("AWS CLI",
                // "Washington DC", "Vitamin C"), as is anything after an all-capitals word ("OS X").
                let numeral = roman_value(written)
                    .filter(|_| written.chars().all(|c| "IVX".contains(c)))
                    .filter(|_| followed_name || (!cased && written.chars().count() > 1));
                if let Some(value) = numeral {
                    figures.push(value.to_string());
                    continue;
                }
                if let Some(r) = RELATIONS.iter().position(|x| *x == w) {
                    seen_relation[r] += 1;
                    if seen_relation[r] == 1 {
                        guard.neighbours[r][0] = last_word;
                        awaiting_right[r] = true;
                    }
                    continue;
                }
                let name = cased && !starts_sentence && written.starts_with(char::is_uppercase) && w != "i" && !w.starts_with("i'");
                let before = guard.order_len;
                let (ordered, content) = guard.add_word(w, &mut figures, name);
                if let Some(at) = ordered {
                    last_word = at;
                    for (r, waiting) in awaiting_right.iter_mut().enumerate() {
                        if std::mem::take(waiting) {
                            guard.neighbours[r][1] = at;
                        }
                    }
                }
                // An all-capitals name is an acronym: what follows it is no regnal number.
                after_name = name && content && written.chars().any(char::is_lowercase);
                // A new ordered word stands after every relation seen (once) so far.
                for (r, count) in seen_relation.iter().enumerate() {
                    for j in before..guard.order_len {
                        if *count >= 1 {
                            guard.after[r] |= 1 << j;
                        }
                    }
                }
            } else {
                let between_letters = i > 0 && chars[i - 1].is_alphabetic() && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
                if FIGURE_SIGNS.contains(&c) && !((c == '-' || c == '/') && between_letters) {
                    figures.push(c.to_string());
                }
                if CURRENCY_SIGNS.contains(&c) {
                    figures.push(c.to_string());
                }
                // A symbol (an emoji, an arrow, ∀): the embedder has no token for it, so it is
                // a figure, kept in order. Not the marks of a script (a virama, a tone mark, a
                // combining accent) nor joiners and variation selectors, which are not words'
                // differences.
                if is_symbol(c) && !FIGURE_SIGNS.contains(&c) && !CURRENCY_SIGNS.contains(&c) {
                    figures.push(c.to_string());
                }
                let abbreviation = c == '.' && (previous.chars().count() == 1 || ABBREVIATIONS.contains(&previous.as_str()));
                if (SENTENCE_ENDS.contains(&c) && !abbreviation) || (c == ')' && after_number) {
                    sentence_start = true;
                }
                if !c.is_whitespace() {
                    (after_name, after_number) = (false, false);
                    previous.clear();
                }
                i += 1;
            }
        }
        let title_case = later_words >= 3 && capitalised * 5 >= later_words * 4;
        if guard.names_len != TOO_MANY_NAMES && (title_case || german_words.count_ones() >= 2) {
            guard.names_len = 0;
        }
        guard.figures_hash = figures_hash(&figures);
        for (r, count) in seen_relation.iter().enumerate() {
            if *count == 1 {
                guard.relations |= 1 << r;
            } else {
                guard.after[r] = 0;
                guard.neighbours[r] = [NONE; 2];
            }
        }
        guard
    }

    /// Adds a word (lower-cased; `name`: written as a proper name); returns the `order` index of
    /// the (last) content word it holds, if ordered, and whether it holds a content word.
    fn add_word(&mut self, w: &str, figures: &mut Vec<String>, name: bool) -> (Option<u8>, bool) {
        if w.ends_with("n't") || NOT_SPELLINGS.contains(&w) {
            self.negations |= 1;
            return (None, false);
        }
        if let Some(bit) = NEGATIONS.iter().position(|n| *n == w) {
            self.negations |= 1 << bit;
            return (None, false);
        }
        if FIGURE_WORDS.contains(&w) || CURRENCY_CODES.contains(&w) {
            figures.push(w.to_string());
            return (None, false);
        }
        let mut at = None;
        let mut content = false;
        if let Some(bit) = POLAR_WORDS.iter().position(|p| *p == w) {
            self.polar |= 1u128 << bit;
        }
        for part in w.split('\'') {
            if part.is_empty() || STOPWORDS.contains(&part) {
                continue;
            }
            let hash = word_hash(part);
            content = true;
            if let Some(plain) = folded(part) {
                self.add_accented((word_hash(&plain) >> 48) as u16, (hash >> 48) as u16);
            }
            self.content |= 1u128 << (hash >> 57); // top bits mix best
            let id = (hash >> 48) as u16;
            // Only a content word is a name: a capitalised function word ("A", "The" in a title,
            // left out above) names no one.
            if name {
                self.add_name(id);
            }
            let len = self.order_len as usize;
            match self.order[..len].iter().position(|x| *x == id) {
                Some(i) => at = Some(i as u8),
                None if len < ORDERED_WORDS => {
                    self.order[len] = id;
                    self.order_len += 1;
                    at = Some(len as u8);
                }
                None => at = None,
            }
        }
        (at, content)
    }

    fn add_accented(&mut self, plain: u16, written: u16) {
        let len = self.accented_len as usize;
        if self.accented_len == TOO_MANY_ACCENTED || self.accented[..len].contains(&(plain, written)) {
            return;
        }
        if len == MAX_ACCENTED {
            self.accented_len = TOO_MANY_ACCENTED;
            return;
        }
        self.accented[len] = (plain, written);
        self.accented_len += 1;
    }

    /// Whether each of this text's accented words that `other` also holds, accented or not, is
    /// written there as here ("papá" is not "papa", nor "papà").
    fn accents_found_in(&self, other: &MatchGuard) -> bool {
        if self.accented_len == TOO_MANY_ACCENTED || other.accented_len == TOO_MANY_ACCENTED {
            return false;
        }
        let theirs = &other.accented[..other.accented_len as usize];
        self.accented[..self.accented_len as usize].iter().all(|&(plain, written)| {
            // Written the same way there: agreed, whatever else either text holds ("é" and "e"
            // are both common Portuguese words). Otherwise, written without accents there (its
            // hash is then the plain form's), or with others, it is another word.
            let bare = other.order[..other.order_len as usize].contains(&plain);
            theirs.contains(&(plain, written)) || !(bare || theirs.iter().any(|(p, _)| *p == plain))
        })
    }

    fn add_name(&mut self, id: u16) {
        let len = self.names_len as usize;
        if self.names_len == TOO_MANY_NAMES || self.names[..len].contains(&id) {
            return;
        }
        if len == MAX_NAMES {
            self.names_len = TOO_MANY_NAMES;
            return;
        }
        self.names[len] = id;
        self.names_len += 1;
    }

    /// Whether each of this text's names is among `other`'s words: one of its names, or one of
    /// its first content words (where a name that begins a sentence, or is written in lower
    /// case, is found). A name beyond those is taken to be absent: a miss, never a wrong hit.
    fn names_found_in(&self, other: &MatchGuard) -> bool {
        if self.names_len == TOO_MANY_NAMES || other.names_len == TOO_MANY_NAMES {
            return false;
        }
        let theirs = |id: &u16| other.order[..other.order_len as usize].contains(id) || other.names[..other.names_len as usize].contains(id);
        self.names[..self.names_len as usize].iter().all(theirs)
    }

    /// Whether the names both texts hold come in the same order in each: a bag of tokens cannot
    /// tell "Is Integer a subclass of Number?" from "Is Number a subclass of Integer?", nor "Alice
    /// owes Bob" from "Bob owes Alice", whose answers differ. Compared where both texts place
    /// them, among their first content words (`order`, which holds a name that begins a
    /// sentence, not counted as a name there).
    fn names_in_same_order(&self, other: &MatchGuard) -> bool {
        if self.names_len == TOO_MANY_NAMES || other.names_len == TOO_MANY_NAMES {
            return false;
        }
        let (mine, theirs) = (&self.order[..self.order_len as usize], &other.order[..other.order_len as usize]);
        let is_name = |id: &&u16| self.names[..self.names_len as usize].contains(id) || other.names[..other.names_len as usize].contains(id);
        let in_mine_placed = mine.iter().filter(is_name).filter(|id| theirs.contains(id));
        let in_theirs_placed = theirs.iter().filter(is_name).filter(|id| mine.contains(id));
        in_mine_placed.eq(in_theirs_placed)
    }

    /// Whether an entry with guard `self` may answer a query with guard `other`: the same
    /// figures in the same order, the same negation and polar words, content-word overlap ≥
    /// [`MIN_CONTENT_OVERLAP`] (two texts with no content words overlap fully), the content
    /// words both begin with in the same order, and no proper name in one that the other lacks,
    /// nor the shared ones in another order.
    pub fn compatible(&self, other: &MatchGuard) -> bool {
        if self.figures_hash != other.figures_hash || self.negations != other.negations || self.polar != other.polar {
            return false;
        }
        if !(self.names_found_in(other) && other.names_found_in(self) && self.names_in_same_order(other)) {
            return false;
        }
        if !(self.accents_found_in(other) && other.accents_found_in(self)) {
            return false;
        }
        let union = (self.content | other.content).count_ones();
        let overlap = union == 0 || (self.content & other.content).count_ones() as f32 >= MIN_CONTENT_OVERLAP * union as f32;
        overlap && self.same_sides(other)
    }

    /// For each relation both texts use once with words on both sides, no word next to it in
    /// one text stands on its other side in the other.
    fn same_sides(&self, other: &MatchGuard) -> bool {
        let both = self.relations & other.relations;
        (0..RELATIONS.len()).filter(|r| both & (1 << r) != 0).all(|r| {
            let flanked = |g: &MatchGuard| g.neighbours[r].iter().all(|n| *n != NONE);
            !(flanked(self) && flanked(other)) || (self.neighbours_keep_sides(other, r) && other.neighbours_keep_sides(self, r))
        })
    }

    /// Each of this guard's two neighbours of relation `r` that `other` also holds is on the
    /// same side of `r` there.
    fn neighbours_keep_sides(&self, other: &MatchGuard, r: usize) -> bool {
        let theirs = &other.order[..other.order_len as usize];
        self.neighbours[r].iter().all(|&i| {
            let word = self.order[i as usize];
            match theirs.iter().position(|w| *w == word) {
                Some(j) => (self.after[r] >> i) & 1 == (other.after[r] >> j) & 1,
                None => true,
            }
        })
    }

    pub fn to_bytes(&self) -> [u8; GUARD_BYTES] {
        let mut out = [0u8; GUARD_BYTES];
        out[..8].copy_from_slice(&self.figures_hash.to_le_bytes());
        out[8..10].copy_from_slice(&self.negations.to_le_bytes());
        out[10..26].copy_from_slice(&self.polar.to_le_bytes());
        out[26..42].copy_from_slice(&self.content.to_le_bytes());
        out[ORDER_LEN_AT] = self.order_len;
        for (i, id) in self.order.iter().enumerate() {
            out[ORDER_LEN_AT + 1 + 2 * i..ORDER_LEN_AT + 3 + 2 * i].copy_from_slice(&id.to_le_bytes());
        }
        let at = ORDER_LEN_AT + 1 + 2 * ORDERED_WORDS;
        out[at..at + 2].copy_from_slice(&self.relations.to_le_bytes());
        for (r, (mask, [left, right])) in self.after.iter().zip(&self.neighbours).enumerate() {
            out[at + 2 + 4 * r..at + 4 + 4 * r].copy_from_slice(&mask.to_le_bytes());
            out[at + 4 + 4 * r] = *left;
            out[at + 5 + 4 * r] = *right;
        }
        out[NAMES_LEN_AT] = self.names_len;
        for (i, id) in self.names.iter().enumerate() {
            out[NAMES_LEN_AT + 1 + 2 * i..NAMES_LEN_AT + 3 + 2 * i].copy_from_slice(&id.to_le_bytes());
        }
        out[ACCENTED_LEN_AT] = self.accented_len;
        for (i, (plain, written)) in self.accented.iter().enumerate() {
            out[ACCENTED_LEN_AT + 1 + 4 * i..ACCENTED_LEN_AT + 3 + 4 * i].copy_from_slice(&plain.to_le_bytes());
            out[ACCENTED_LEN_AT + 3 + 4 * i..ACCENTED_LEN_AT + 5 + 4 * i].copy_from_slice(&written.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<MatchGuard> {
        let names_len = *bytes.get(NAMES_LEN_AT)?;
        let accented_len = *bytes.get(ACCENTED_LEN_AT)?;
        if bytes.len() != GUARD_BYTES
            || bytes[ORDER_LEN_AT] as usize > ORDERED_WORDS
            || (names_len as usize > MAX_NAMES && names_len != TOO_MANY_NAMES)
            || (accented_len as usize > MAX_ACCENTED && accented_len != TOO_MANY_ACCENTED)
        {
            return None;
        }
        let mut accented = [(0u16, 0u16); MAX_ACCENTED];
        for (i, pair) in accented.iter_mut().enumerate() {
            let at = ACCENTED_LEN_AT + 1 + 4 * i;
            *pair = (u16::from_le_bytes(bytes[at..at + 2].try_into().ok()?), u16::from_le_bytes(bytes[at + 2..at + 4].try_into().ok()?));
        }
        let mut names = [0u16; MAX_NAMES];
        for (i, id) in names.iter_mut().enumerate() {
            *id = u16::from_le_bytes(bytes[NAMES_LEN_AT + 1 + 2 * i..NAMES_LEN_AT + 3 + 2 * i].try_into().ok()?);
        }
        let mut order = [0u16; ORDERED_WORDS];
        for (i, id) in order.iter_mut().enumerate() {
            *id = u16::from_le_bytes(bytes[ORDER_LEN_AT + 1 + 2 * i..ORDER_LEN_AT + 3 + 2 * i].try_into().ok()?);
        }
        let at = ORDER_LEN_AT + 1 + 2 * ORDERED_WORDS;
        let mut after = [0u16; RELATIONS.len()];
        let mut neighbours = [[NONE; 2]; RELATIONS.len()];
        for r in 0..RELATIONS.len() {
            after[r] = u16::from_le_bytes(bytes[at + 2 + 4 * r..at + 4 + 4 * r].try_into().ok()?);
            neighbours[r] = [bytes[at + 4 + 4 * r], bytes[at + 5 + 4 * r]];
            if neighbours[r].iter().any(|n| *n != NONE && *n >= bytes[ORDER_LEN_AT]) {
                return None;
            }
        }
        Some(MatchGuard {
            figures_hash: u64::from_le_bytes(bytes[..8].try_into().ok()?),
            negations: u16::from_le_bytes(bytes[8..10].try_into().ok()?),
            polar: u128::from_le_bytes(bytes[10..26].try_into().ok()?),
            content: u128::from_le_bytes(bytes[26..42].try_into().ok()?),
            order,
            order_len: bytes[ORDER_LEN_AT],
            relations: u16::from_le_bytes(bytes[at..at + 2].try_into().ok()?),
            after,
            neighbours,
            names,
            names_len,
            accented,
            accented_len,
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
        assert!(!same("is my cat sick", "is my car sick"), "words differing in their last letter are different words");
    }

    #[test]
    fn numbers_must_agree() {
        assert!(same("Refund order 1234 please", "please refund my order #1234"));
        assert!(!same("refund order 1234", "refund order 1243"));
        assert!(!same("top 5 cities", "top 10 cities"));
        assert!(same("costs 1,000 dollars", "cost is 1000 dollars"));
        assert!(!same("version 1.5", "version 15"));
        assert!(!same("What is 7-2?", "What is 2-7?"), "figures in order");
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
    fn signs_ordinals_and_number_words_are_figures() {
        assert!(!same("What is 7-2?", "What is 7+2?"));
        assert!(!same("What is 3+2?", "What is 3*2?"));
        assert!(!same("Is x > 5 true when x is 7?", "Is x < 5 true when x is 7?"));
        assert!(!same("Who was the first president of the United States?", "Who was the second president of the United States?"));
        assert!(!same("list three fruits", "list two fruits"));
        assert!(same("cats and/or dogs that are well-known", "cats and or dogs that are well known"), "spelling, not signs");
        assert!(same("What is 7 - 2?", "what's 7-2"));
    }

    #[test]
    fn polar_words_must_agree() {
        assert!(!same("Write a function that sorts a list of strings in descending order", "Write a function that sorts a list of strings in ascending order"));
        assert!(!same("encrypt this file with AES", "decrypt this file with AES"));
        assert!(same("sort the list in descending order", "Sort the list in descending order, please"));
        assert!(!same("sort the strings in 'descending' order", "sort the strings in 'ascending' order"), "quotes are not part of a word");
        assert!(!same("is it 'not' safe", "is it safe"));
    }

    #[test]
    fn swapped_relation_arguments_do_not_match() {
        assert!(!same("Convert 100 USD to EUR", "Convert 100 EUR to USD"));
        assert!(!same("Is Alice older than Bob?", "Is Bob older than Alice?"));
        assert!(!same("How do I convert Celsius to Fahrenheit?", "How do I convert Fahrenheit to Celsius?"));
        // With, in, as, on, over, instead: each pair embeds alike and its mirror answers otherwise.
        assert!(!same("How do I replace tabs with spaces in vim?", "How do I replace spaces with tabs in vim?"));
        assert!(!same("what is 100 fahrenheit in celsius", "what is 100 celsius in fahrenheit"));
        assert!(!same("what is 5 miles in km", "what is 5 km in miles"));
        assert!(!same("cast a string as an int in java", "cast an int as a string in java"));
        assert!(!same("rebase main on feature branch", "rebase feature branch on main"));
        assert!(!same("prefer composition over inheritance?", "prefer inheritance over composition?"));
        assert!(!same("why use tabs instead of spaces", "why use spaces instead of tabs"));
        assert!(same("How do I replace tabs with spaces in vim?", "In vim, how can I replace tabs with spaces?"), "the sides kept, the rest moved");
        assert!(same("How do I reset my password?", "How can I reset my password?"));
        assert!(same("How do I reverse a list in Python?", "how to reverse a Python list"), "no relation in both: order is free");
        assert!(same("Is Alice older than Bob?", "Alice is older than Bob, isn't she?".replace(", isn't she", "").as_str()));
        assert!(same("What's the way to reverse Python lists?", "How to reverse a list in Python"));
    }

    #[test]
    fn a_proper_name_on_one_side_only_does_not_match() {
        // 7 of 9 content words shared, no figure, no negation: only the name tells them apart,
        // and a cached draft naming someone else's landlord would go to another end user.
        let john = "Draft an email to my landlord John Peterson about the broken heating";
        assert!(!same(john, "Draft an email to my landlord Mark Peterson about the broken heating"));
        assert!(!same(john, "Draft an email to my landlord Peterson about the broken heating"), "a name dropped");
        assert!(same(john, "Please draft an email to my landlord John Peterson about the broken heating"));
        assert!(!same("Email Mr. Smith about the unpaid invoice", "Email Mr. Jones about the unpaid invoice"), "after a title's full stop");
        assert!(!same("Is Alice older than Carol?", "Is Alice older than Bob?"));
        // The same names in another order: a bag of tokens, one vector, another answer.
        assert!(!same("Is Integer a subclass of Number in Java?", "Is Number a subclass of Integer in Java?"));
        assert!(!same("Alice owes Bob twenty dollars; who pays whom?", "Bob owes Alice twenty dollars; who pays whom?"));
        assert!(same("Does Alice owe Bob money after the trip?", "After the trip, does Alice owe Bob money?"), "the names in their order, the rest moved");
        // Not names: the first word of a sentence, "I" and its contractions, capitals that carry no
        // case (a shouted text, a script without case).
        assert!(same("Python: how do I reverse a list?", "How do I reverse a list in Python?"), "a name written first is still present");
        assert!(same("Can I reset my password?", "How can I reset my password?"));
        assert!(same("Tell me, am I right? I'm not sure.", "Tell me, am I right? I am not sure."));
        assert!(same("WHAT IS THE CAPITAL OF FRANCE?", "What is the capital of France?"));
        assert!(same("Write A Poem About The Sea", "write a poem about the sea"), "a capitalised function word is not a name");
    }

    #[test]
    fn currency_signs_and_codes_are_figures() {
        assert!(!same("Write a polite reminder that the $100 deposit for the flat is overdue", "Write a polite reminder that the €100 deposit for the flat is overdue"));
        assert!(!same("Is £250 a fair price for a used bike?", "Is ¥250 a fair price for a used bike?"));
        assert!(!same("Write a polite reminder that the invoice of 100 USD for the redesign is overdue", "Write a polite reminder that the invoice of 100 EUR for the redesign is overdue"));
        assert!(!same("Write a polite reminder that the invoice of 100 dollars for the redesign is overdue", "Write a polite reminder that the invoice of 100 euros for the redesign is overdue"));
        assert!(same("How much is $100 in yen?", "how much is $100 in yen"));
        assert!(same("convert 100 usd to yen", "Convert 100 USD to yen"), "a code in any case");
    }

    #[test]
    fn ordinals_past_twelfth_and_dozens_are_figures() {
        assert!(!same("Who was the thirteenth president of the United States?", "Who was the fourteenth president of the United States?"));
        assert!(!same("What happened in the twentieth century in Europe?", "What happened in the nineteenth century in Europe?"));
        assert!(!same("Plan the fiftieth anniversary party of our company", "Plan the hundredth anniversary party of our company"));
        assert!(!same("How do I bake a dozen cookies with this recipe?", "How do I bake cookies with this recipe?"));
    }

    #[test]
    fn roman_numerals_after_a_name_are_figures() {
        assert!(!same("Who won World War I?", "Who won World War II?"));
        assert!(!same("When did King Henry VIII of England die?", "When did King Henry VII of England die?"));
        assert!(!same("Summarise the plot of Rocky III for me", "Summarise the plot of Rocky IV for me"));
        assert!(same("Who won World War II?", "Who won World War 2?"), "the same figure, written either way");
        assert!(!same("WHO WON WORLD WAR I?", "WHO WON WORLD WAR II?"), "without case, a numeral of two letters or more");
        assert!(same("Yesterday I went to the shop and I bought bread", "Yesterday, I went to the shop and I bought bread"), "\"I\" after a sentence's first word is the pronoun");
    }

    #[test]
    fn round_trips() {
        assert_eq!(MatchGuard::from_bytes(&MatchGuard::default().to_bytes()), Some(MatchGuard::default()));
        assert_eq!(MatchGuard::default(), MatchGuard::from_text(""));
        let g = MatchGuard::from_text("not 42 apples than pears to 7 plums");
        assert_ne!(g.relations, 0);
        assert_eq!(MatchGuard::from_bytes(&g.to_bytes()), Some(g));
        // The relations of the mask's upper byte, and the last relation's slot.
        let late = MatchGuard::from_text("swap tabs over spaces instead of commas");
        assert!(late.relations >> 8 != 0 && late.neighbours[RELATIONS.len() - 1] != [NONE; 2]);
        assert_eq!(MatchGuard::from_bytes(&late.to_bytes()), Some(late));
        assert_eq!(MatchGuard::from_bytes(&[0; 3]), None);
        let named = MatchGuard::from_text("Ask Alice and Bob O'Brien about World War II for $5");
        assert_eq!(named.names_len, 6, "alice, bob, o, brien, world, war");
        assert_eq!(MatchGuard::from_bytes(&named.to_bytes()), Some(named));
        let mut bad = named.to_bytes();
        bad[NAMES_LEN_AT] = MAX_NAMES as u8 + 1;
        assert_eq!(MatchGuard::from_bytes(&bad), None);
        let accented = MatchGuard::from_text("¿Cuántos años tiene el papá?");
        assert_eq!(accented.accented_len, 3, "cuántos, años, papá");
        assert_eq!(MatchGuard::from_bytes(&accented.to_bytes()), Some(accented));
        let mut bad = accented.to_bytes();
        bad[ACCENTED_LEN_AT] = MAX_ACCENTED as u8 + 1;
        assert_eq!(MatchGuard::from_bytes(&bad), None);
    }

    #[test]
    fn symbols_the_embedder_has_no_token_for_must_agree() {
        // Both embed as "what does mean ?" with the static embedder.
        assert!(!same("What does 👍 mean?", "What does 👎 mean?"));
        assert!(!same("Write a short poem about 🐶", "Write a short poem about 🐱"));
        assert!(!same("Prove ∀x P(x)", "Prove ∃x P(x)"));
        assert!(!same("What does 👍 mean?", "What does it mean?"));
        assert!(same("What does 👍 mean?", "what does 👍 mean"), "the same symbol");
        assert!(same("¿Qué hora es en Madrid?", "Qué hora es en Madrid"), "punctuation is no symbol");
        assert!(same("He said “hello” — twice", "He said \"hello\" twice"));
        // Full-width and superscript signs, and currencies the figures list lacks, are symbols.
        assert!(!same("３＋５は？", "３－５は？"));
        assert!(!same("What is 10⁻³ in decimal?", "What is 10³ in decimal?"));
        assert!(!same("100 ₸ in USD", "100 ₼ in USD"));
        // The marks of a script are no symbols: a paraphrase of Hindi or Thai may still match.
        assert!(same("क्या यह सही है", "क्या यह सही है?"));
        assert!(same("ไม่เป็นไร", "ไม่เป็นไร"));
        assert!(same("👍\u{FE0F} good", "👍 good"), "a variation selector is no symbol");
    }

    #[test]
    fn a_word_both_texts_hold_must_carry_the_same_accents() {
        // The static embedder strips accents: each pair embeds identically.
        assert!(!same("¿Cuántos años tiene el papa?", "¿Cuántos años tiene el papá?"), "the Pope is not my father");
        assert!(!same("Ideias de presente para avô", "Ideias de presente para avó"), "grandfather, grandmother");
        assert!(!same("Ideias de presente para avô", "Ideias de presente para avo"));
        assert!(same("¿Cuántos años tiene el papá?", "cuántos años tiene el papá"), "the same accents");
        // A word common with and without its accent ("é", is; "e", and): the same text matches.
        let pt = "O que é fotossíntese e como funciona?";
        assert!(same(pt, pt));
        assert!(same("¿Qué es lo que pasa?", "qué es lo que pasa"));
        assert!(same("Wie alt ist München?", "wie alt ist München"));
        // Accents typed as characters of their own (decomposed text) tell words apart too.
        assert!(!same("Ideias de presente para avo\u{302}", "Ideias de presente para avo\u{301}"));
        assert!(!same("Ideias de presente para avo\u{302}", "Ideias de presente para avo"));
        assert!(same("Ideias de presente para avo\u{302}", "ideias de presente para avo\u{302}"));
        let many = "á é í ó ú ñ ü à è ì ò ù â ê î ô û ç ë ï";
        let words: String = many.split(' ').map(|c| format!("pal{c}bra ")).collect();
        let g = MatchGuard::from_text(&words);
        assert_eq!(g.accented_len, TOO_MANY_ACCENTED);
        assert!(!same(&words, &words), "past the kept words, which a paraphrase changes cannot be told");
    }

    #[test]
    fn a_text_with_more_names_than_kept_matches_nothing() {
        let crowd = "Invite Ann, Ben, Cid, Dan, Eve, Fay, Gus, Hal, Ida, Jon, Kim, Lea, Max, Ned, Ola, Pam and Quinn to the party";
        let g = MatchGuard::from_text(crowd);
        assert_eq!(g.names_len, TOO_MANY_NAMES);
        assert_eq!(MatchGuard::from_bytes(&g.to_bytes()), Some(g));
        assert!(!same(crowd, crowd), "which of them a paraphrase keeps cannot be told");
        assert!(!same("Invite Ann to the party", crowd));
        assert!(same("Invite Ann, Ben and Cid to the party", "invite Ann, Ben and Cid to the party please"));
    }

    #[test]
    fn acronyms_german_nouns_title_case_and_list_items_are_not_names_or_numerals() {
        assert!(same("How do I install the AWS CLI on Linux?", "how do i install the aws cli on linux"), "CLI is no 151");
        assert!(same("What is the weather like in Washington DC today?", "what's the weather like in washington dc today"));
        assert!(same("How do I take a screenshot on OS X?", "how to take a screenshot on os x"), "X after an acronym");
        assert!(same("Is Vitamin C good for a cold?", "is vitamin c good for a cold"));
        assert!(same("Wie setze ich mein Kennwort und die Sicherheitsfrage zurück?", "Wie setze ich die Sicherheitsfrage und mein Passwort zurück?".replace("Passwort", "Kennwort").as_str()));
        let g = MatchGuard::from_text("Wie kann ich mein Kennwort für das Konto ändern?");
        assert_eq!(g.names_len, 0, "German nouns are not names");
        assert_eq!(MatchGuard::from_text("How To Reset My Router Password").names_len, 0, "Title Case");
        assert_eq!(MatchGuard::from_text("Steps:\n1) Reset the router\n2) Call support").names_len, 0, "a list item's first word");
        assert!(!same("Who won World War I?", "Who won World War II?"), "still a numeral after a name");
    }

    #[test]
    fn roman_numerals_are_read_in_their_usual_form_only() {
        for (written, value) in [("I", Some(1)), ("IV", Some(4)), ("XIV", Some(14)), ("MCMXCIV", Some(1994)), ("IIII", None), ("IC", None), ("VX", None), ("MIXED", None), ("", None), ("iv", None)] {
            assert_eq!(roman_value(written), value, "{written}");
        }
    }
}
#[cfg(test)]
mod limits {
    #[test]
    fn the_word_lists_fit_their_bits() {
        assert!(super::POLAR_WORDS.len() <= 128);
        assert!(super::RELATIONS.len() <= 16);
    }
}
