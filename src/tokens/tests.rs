//! The exact tokenizer against tiktoken-rs: committed tables, Unicode classes, and token ids on
//! a large varied corpus (hand-picked cases and thousands of seeded random strings).

use super::exact::{self, vocab::Vocab};
use super::*;
use crate::api::chat::ChatRequest;

fn oracle_encode(enc: Encoding, text: &str) -> Vec<u32> {
    super::oracle::tiktoken(enc.name()).encode_ordinary(text)
}

/// Compares both encodings on every text; on a mismatch, names the text and the first piece
/// where the token ids differ.
fn assert_same(texts: &[String]) {
    for enc in Encoding::ALL {
        for text in texts {
            let ours = encode(enc, text);
            let theirs = oracle_encode(enc, text);
            if ours != theirs {
                let at = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
                panic!(
                    "{}: {:?}\nfirst difference at token {at}: ours {:?} tiktoken {:?}",
                    enc.name(),
                    text,
                    &ours[at..(at + 5).min(ours.len())],
                    &theirs[at..(at + 5).min(theirs.len())]
                );
            }
            assert_eq!(count_tokens(enc, text), theirs.len(), "{}: count of {:?}", enc.name(), text);
        }
    }
}

#[test]
fn committed_tables_are_current() {
    for enc in Encoding::ALL {
        let regenerated = exact::vocab::write_compact(&super::oracle::vocab(enc.name()));
        assert!(
            regenerated == enc.compact_table(),
            "src/tokens/exact/data/{}.bin is stale: run `cargo run --release --example gen_token_tables`",
            enc.name()
        );
    }
    let unicode = exact::unicode::build_table(&super::oracle::unicode_classes());
    assert!(
        unicode == include_bytes!("exact/data/unicode_classes.bin"),
        "unicode_classes.bin is stale: run `cargo run --release --example gen_token_tables`"
    );
}

#[test]
fn every_token_is_found_with_its_rank() {
    for enc in Encoding::ALL {
        let vocab = super::oracle::vocab(enc.name());
        let v: &Vocab = enc.vocab();
        assert_eq!(v.len(), vocab.len());
        let all: std::collections::HashMap<&[u8], u32> = vocab.iter().enumerate().map(|(r, b)| (&b[..], r as u32)).collect();
        for (rank, bytes) in vocab.iter().enumerate() {
            assert_eq!(v.rank(bytes), Some(rank as u32), "{} rank {rank}", enc.name());
            // Near misses (one byte more, one less) agree with the oracle's set too.
            let mut longer = bytes.clone();
            longer.push(b' ');
            assert_eq!(v.rank(&longer), all.get(&longer[..]).copied());
            let shorter = &bytes[1..];
            assert_eq!(v.rank(shorter), all.get(shorter).copied());
        }
    }
}

#[test]
fn unicode_classes_match_regex_syntax() {
    let classes = super::oracle::unicode_classes();
    for (cp, &class) in classes.iter().enumerate() {
        if let Some(c) = char::from_u32(cp as u32) {
            assert_eq!(exact::unicode::class_of(c) as u8, class, "U+{cp:04X}");
        }
    }
}

#[test]
fn contraction_case_folds_are_the_ones_handled() {
    // The scanners fold the contraction letters to ASCII case plus ſ (U+017F) for s.
    for (c, set) in super::oracle::case_folds() {
        let mut expected = vec![c, c.to_ascii_uppercase()];
        if c == 's' {
            expected.push('ſ');
        }
        let mut got = set.clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "(?i){c}");
    }
}

/// A small deterministic PRNG (SplitMix64) so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SAMPLES: &[&str] = &[
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you'll see they've said it's what we'd do. I'M SURE YOU'LL SEE THEY'VE SAID IT'S WHAT WE'D DO.",
    "don't DON'T Don'T 'tis 'TWAS rock'n'roll o'clock '' ' 's 'S 'ſ 'll 'LL 'Ll 're 'RE 've 'VE 'd 'D 'm 'M 't",
    "word'sfoo  'sfoo \t'sfoo x'LLama",
    "  leading spaces\tand\ttabs  \n  trailing spaces   \n\n\n",
    "line one\r\nline two\r\n\r\nline four\r\n",
    "mixed \r\n\t \n  \r  \n\n \t\t",
    "  ", " ", "\n", "\r\n", "\t", " \n ", "a  ", "a \n", "a\n ", "!\n", "! \n\n", "  !", " !!! ???",
    "12345678901234567890 3.14159 1,000,000 -42 +7 0x1F 1e10 2024-01-01T12:00:00Z",
    "١٢٣٤٥ ५६७ ⅫⅣ ½ ² ① 12٣4",
    "fn main() {\n    let x: Vec<u32> = vec![1, 2, 3];\n    println!(\"{:?}\", x.iter().map(|v| v * 2).collect::<Vec<_>>());\n}\n",
    "def f(a, b=None):\n\tif a is not None and b:\n\t\treturn a // b  # integer division\n\treturn {'k': [1, 2.5, \"s\"]}\n",
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi \"there\" \\ \/ \u00e9"}],"temperature":0.7,"n":1}"#,
    "<html><body><div class=\"x\">&nbsp;&amp;</div></body></html>",
    "https://example.com/path/to/page?query=1&b=2#frag //comment /* block */ a/b/c //\n//",
    "HTTPServerError XMLHttpRequest camelCaseWord snake_case_word SCREAMING_SNAKE kebab-case-word",
    "Ǆemal ǅemal ǆemal ῼ ᾈ Ÿ ß ẞ İstanbul ǈ",
    "Ａ ｂｃ ＡＢＣ ᴬᴮ ʰʲ ˢ ー カタカナ ｶﾀｶﾅ",
    "中文文本，包含标点。日本語のテキスト、ひらがなとカタカナ。한국어 텍스트입니다.",
    "مرحبا بالعالم! هذا نص عربي مع تشكيل: مُحَمَّد",
    "שָׁלוֹם עוֹלָם",
    "नमस्ते दुनिया, यह हिंदी पाठ है। क्षत्रिय",
    "Ελληνικά κείμενα ΚΕΦΑΛΑΙΑ Ἀθῆναι",
    "Русский текст ПРОПИСНЫЕ буквы ёЁ",
    "👋🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇺🇸🇫🇷 😀😃😄 #️⃣ 1️⃣",
    "e\u{301}\u{302} a\u{300}b \u{301}\u{301}start \u{301}A \u{301}'s A\u{301}B\u{301}c x\u{20dd}",
    "\u{300}", "\u{300} ", " \u{300}", "a\u{300}", "\u{300}a", "A\u{300}", "\u{300}A", "\u{300}'S", "'\u{300}",
    "ABC\u{300}def GHIʰ ʰABC ʰabc Aʰ ǅA ǅa ǄA ǆA",
    "zero\u{200b}width\u{200d}joiner\u{feff}bom \u{a0}nbsp\u{a0} \u{2028}ls\u{2029}ps \u{85}nel \u{3000}ideo \u{1680}ogham",
    "\u{b}\u{c}vt ff\u{b}\u{c} \u{1c}\u{1d}\u{1e}\u{1f}",
    "tab\tafter word\t\tdouble \t \tmixed",
    "/////  ///\n///\r\n/ !/ !!/\n\n",
    "a...b!!!c???d;;;e:::f---g___h",
    "$100 €200 £300 ¥400 ₹500 50% @user #tag ~tilde `code` ^caret |pipe \\back",
    "Iñtërnâtiônàlizætiøn ÀÉÎÕÜ",
    "\u{e000}\u{f8ff}\u{10ffff}\u{e0001}\u{e0041}\u{fe0f}\u{1f3fb}",
    "ﬁﬂ ﬃ ŉ ǰ ΐ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝 𝟏𝟐𝟑",
];

const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as", "with",
    "token", "router", "latency", "Cloudflare", "Worker", "gpt", "JSON", "HTTP", "API", "OpenAI", "embedding",
    "über", "naïve", "café", "façade", "Straße", "日本", "中文", "한국", "مرحبا", "שלום", "नमस्ते", "Ελλάδα",
    "Россия", "ǅemal", "ʰello", "ﬁne", "e\u{301}clair", "👍", "🚀", "🇩🇪", "👩‍💻", "x86_64", "v2.0.1",
];

fn random_piece(rng: &mut Rng) -> String {
    const WS: &[&str] = &[" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\u{a0}", "\u{3000}", "\u{2028}", "\u{85}", "\u{b}", "\u{c}", "   "];
    const PUNCT: &[&str] = &[".", ",", "!", "?", "'", "\"", "/", "//", "-", "_", "(", ")", "{", "}", "[", "]", ":", ";", "<", ">", "=", "+", "*", "&", "#", "@", "$", "%", "^", "~", "`", "|", "\\", "…", "—", "«", "»", "¿", "•"];
    const CONTRACTIONS: &[&str] = &["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL", "'d", "'D", "'ſ", "'x"];
    const MARKS: &[char] = &['\u{300}', '\u{301}', '\u{308}', '\u{327}', '\u{93f}', '\u{94d}', '\u{64e}', '\u{5b8}', '\u{20dd}', '\u{fe0f}', '\u{e0100}'];
    const SPECIAL_LETTERS: &[char] = &['ǅ', 'ǈ', 'ῼ', 'ʰ', 'ˢ', 'ー', 'ª', 'º', 'ƻ', 'ǀ', 'ᴬ', 'ᵃ', 'ꜝ', 'ſ', 'İ', 'ı', 'ß', 'ẞ'];
    const NUMBERS: &[char] = &['٣', '५', '৭', 'Ⅻ', 'ⅳ', '½', '²', '①', '〇', '𝟙', '߃'];
    match rng.below(14) {
        0 => rng.pick(WORDS).to_string(),
        1 => {
            let w = rng.pick(WORDS);
            match rng.below(3) {
                0 => w.to_uppercase(),
                1 => {
                    let mut c = w.chars();
                    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
                }
                _ => w.to_string(),
            }
        }
        2 => rng.pick(WS).to_string(),
        3 => rng.pick(PUNCT).to_string(),
        4 => rng.pick(CONTRACTIONS).to_string(),
        5 => (0..1 + rng.below(8)).map(|_| char::from(b'0' + rng.below(10) as u8)).collect(),
        6 => rng.pick(MARKS).to_string(),
        7 => rng.pick(SPECIAL_LETTERS).to_string(),
        8 => rng.pick(NUMBERS).to_string(),
        9 => (0..1 + rng.below(5)).map(|_| char::from(b'A' + rng.below(26) as u8)).collect(),
        10 => (0..1 + rng.below(5)).map(|_| char::from(b'a' + rng.below(26) as u8)).collect(),
        11 => {
            // Any Unicode scalar value, weighted towards the BMP.
            let cp = if rng.below(4) == 0 { rng.below(0x110000) } else { rng.below(0x10000) } as u32;
            char::from_u32(cp).unwrap_or('\u{fffd}').to_string()
        }
        12 => (0..1 + rng.below(4)).map(|_| *rng.pick(&[' ', '\t', '\n', '\r'])).collect(),
        _ => " ".to_string(),
    }
}

/// Strings built from pieces chosen to meet at every kind of boundary the patterns care about.
fn random_texts(seed: u64, count: usize, max_pieces: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let n = 1 + rng.below(max_pieces);
            (0..n).map(|_| random_piece(&mut rng)).collect()
        })
        .collect()
}

/// Strings of arbitrary Unicode scalar values (any plane, unassigned and private use included).
fn random_unicode(seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let n = 1 + rng.below(24);
            (0..n)
                .map(|_| {
                    let cp = match rng.below(6) {
                        0 => rng.below(0x80),
                        1 => rng.below(0x800),
                        2 | 3 => rng.below(0x10000),
                        _ => rng.below(0x110000),
                    } as u32;
                    char::from_u32(cp).unwrap_or(' ')
                })
                .collect()
        })
        .collect()
}

#[test]
fn hand_picked_samples_match_tiktoken() {
    let mut texts: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
    // Every sample also glued to every other, so that each ending meets each beginning.
    for a in SAMPLES.iter().take(24) {
        for b in SAMPLES.iter().take(24) {
            texts.push(format!("{a}{b}"));
        }
    }
    assert_same(&texts);
}

#[test]
fn random_mixed_strings_match_tiktoken() {
    assert_same(&random_texts(1, 8000, 12));
}

#[test]
fn random_longer_strings_match_tiktoken() {
    assert_same(&random_texts(2, 800, 120));
}

#[test]
fn random_unicode_strings_match_tiktoken() {
    assert_same(&random_unicode(3, 6000));
}

#[test]
fn long_pieces_match_tiktoken() {
    // Pieces past the array form's length use the heap form.
    let mut rng = Rng(4);
    let mut texts = vec![
        "a".repeat(1000),
        "ab".repeat(700),
        " ".repeat(3000),
        " ".repeat(3000) + "x",
        "\n".repeat(500) + "  ",
        "!".repeat(600),
        "9".repeat(1000),
        "🚀".repeat(200),
        "e\u{301}".repeat(300),
        "中".repeat(400),
        "ʰ".repeat(300) + "A",
        "A".repeat(500) + "a",
    ];
    for len in [100, 127, 128, 129, 200, 1000] {
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        texts.push((0..len).map(|_| *rng.pick(alphabet) as char).collect());
        // Base64-like: letters, digits and + / broken into runs.
        let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        texts.push((0..len * 4).map(|_| *rng.pick(b64) as char).collect());
    }
    assert_same(&texts);
}

#[test]
fn documents_match_tiktoken() {
    // A larger mixed document: prose, code, JSON, every sample.
    let mut doc = String::new();
    for (i, s) in SAMPLES.iter().enumerate() {
        doc.push_str(s);
        doc.push_str(if i % 3 == 0 { "\n\n" } else { " " });
    }
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "messages": SAMPLES.iter().map(|s| serde_json::json!({"role": "user", "content": s})).collect::<Vec<_>>(),
    }))
    .unwrap();
    assert_same(&[doc.clone(), json, doc.repeat(5)]);
}

#[test]
fn maps_models_to_encodings() {
    use Encoding::*;
    for (model, enc) in [
        ("gpt-4o", Some(O200kBase)),
        ("gpt-4o-mini", Some(O200kBase)),
        ("gpt-4o-2024-08-06", Some(O200kBase)),
        ("chatgpt-4o-latest", Some(O200kBase)),
        ("gpt-4.1", Some(O200kBase)),
        ("gpt-4.1-nano", Some(O200kBase)),
        ("gpt-5", Some(O200kBase)),
        ("o1", Some(O200kBase)),
        ("o1-mini", Some(O200kBase)),
        ("o3-mini", Some(O200kBase)),
        ("o4-mini", Some(O200kBase)),
        ("openai/gpt-4o", Some(O200kBase)),
        ("ft:gpt-4o-mini:org::abc", Some(O200kBase)),
        ("gpt-4", Some(Cl100kBase)),
        ("gpt-4-turbo", Some(Cl100kBase)),
        ("gpt-4-0613", Some(Cl100kBase)),
        ("gpt-3.5-turbo", Some(Cl100kBase)),
        ("gpt-3.5-turbo-16k", Some(Cl100kBase)),
        ("text-embedding-3-small", Some(Cl100kBase)),
        ("text-embedding-3-large", Some(Cl100kBase)),
        ("text-embedding-ada-002", Some(Cl100kBase)),
        ("claude-sonnet-4-5", None),
        ("gemini-2.5-pro", None),
        ("o100", None),
        ("gpt-40", None),
    ] {
        assert_eq!(encoding_for_model(model), enc, "{model}");
    }
}

#[test]
fn chat_prompt_uses_openai_framing() {
    let req = ChatRequest::parse(
        br#"{"model":"gpt-4o","messages":[
            {"role":"system","content":"You are a helpful assistant."},
            {"role":"user","name":"alice","content":"What's the capital of France?"},
            {"role":"assistant","content":"Paris."},
            {"role":"user","content":[{"type":"text","text":"And of Spain?"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}
        ]}"#,
    )
    .unwrap();
    for enc in Encoding::ALL {
        let t = |s: &str| oracle_encode(enc, s).len() as u64;
        let expected = 3
            + (3 + t("system") + t("You are a helpful assistant."))
            + (3 + t("user") + t("What's the capital of France?") + t("alice") + 1)
            + (3 + t("assistant") + t("Paris."))
            + (3 + t("user") + t("And of Spain?") + 85);
        assert_eq!(count_chat_prompt_tokens(enc, &req), expected, "{}", enc.name());
    }
    // The cookbook's example conversation: 129 prompt tokens for gpt-4o / gpt-4 alike (as OpenAI's API reported).
    let cookbook = ChatRequest::parse(
        br#"{"model":"gpt-4o","messages":[
        {"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
        {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
        {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
        {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
        {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
        {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}
        ]}"#,
    )
    .unwrap();
    assert_eq!(count_chat_prompt_tokens(Encoding::O200kBase, &cookbook), 124);
    assert_eq!(count_chat_prompt_tokens(Encoding::Cl100kBase, &cookbook), 129);
}

#[test]
fn tools_are_approximated_by_the_cookbook_rule() {
    let req = ChatRequest::parse(
        br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],
        "tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather.",
        "parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name."},
        "unit":{"type":"string","enum":["c","f"]}}}}}]}"#,
    )
    .unwrap();
    let enc = Encoding::O200kBase;
    let t = |s: &str| oracle_encode(enc, s).len() as u64;
    let messages = 3 + 3 + t("user") + t("hi");
    // Cookbook constants for o200k: function 7, properties 3, property 3, enum −3, enum item 3, end 12.
    let (func_init, prop_init, prop_key, enum_init, enum_item, func_end) = (7, 3, 3, 3, 3, 12);
    let city = prop_key + t("city:string:City name");
    let unit = prop_key - enum_init + enum_item + t("c") + enum_item + t("f") + t("unit:string:");
    let tools = func_init + t("get_weather:Get the weather") + prop_init + city + unit + func_end;
    assert_eq!(count_chat_prompt_tokens(enc, &req), messages + tools);
}

#[test]
fn estimator_is_still_exported() {
    // Callers in edge/ use these through `crate::tokens::`.
    assert_eq!(estimate_text_tokens("abcd"), 1);
    let req = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"user","content":"abcdefgh"}]}"#).unwrap();
    assert_eq!(estimate_prompt_tokens(&req), 8);
    let _ = estimate_usage(&req, "x");
}

#[test]
fn prompt_tokens_report_the_leading_system_prompt_from_the_same_count() {
    let req = ChatRequest::parse(
        br#"{"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"developer","content":[{"type":"text","text":"Answer in French."}]},{"role":"user","content":"Hello there"},{"role":"system","content":"late, not part of the prefix"}]}"#,
    )
    .unwrap();
    let p = prompt_tokens(&req, None);
    assert!(p.exact);
    assert_eq!(p.count, count_chat_prompt_tokens(Encoding::O200kBase, &req), "the total is unchanged");
    let texts = count_tokens(Encoding::O200kBase, "You are terse.") + count_tokens(Encoding::O200kBase, "Answer in French.");
    assert_eq!(p.system, texts as u64);
    // Without a system prompt there is none; for a model without a known encoding it is estimated.
    let plain = ChatRequest::parse(br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
    assert_eq!(prompt_tokens(&plain, None).system, 0);
    let claude = ChatRequest::parse(br#"{"model":"claude-haiku-4-5","messages":[{"role":"system","content":"12345678"},{"role":"user","content":"hi"}]}"#).unwrap();
    assert_eq!(prompt_tokens(&claude, None), PromptTokens { count: estimate_prompt_tokens(&claude), exact: false, system: 2 });
}

#[test]
fn images_count_alike_whether_the_model_has_a_tokenizer_or_not() {
    let body = |model: &str| {
        let image = r#"{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}"#;
        let low = r#"{"type":"image_url","image_url":{"url":"https://example.com/b.png","detail":"low"}}"#;
        format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":[{{"type":"text","text":"Compare these."}},{image},{image},{image},{low}]}}]}}"#)
    };
    let exact = prompt_tokens(&ChatRequest::parse(body("gpt-4o").as_bytes()).unwrap(), None);
    let alias = prompt_tokens(&ChatRequest::parse(body("gpt4o").as_bytes()).unwrap(), None);
    assert!(exact.exact && !alias.exact);
    assert!(exact.count > 3 * 765 + 85 && alias.count > 3 * 765 + 85, "{exact:?} {alias:?}");
    assert!(exact.count.abs_diff(alias.count) < 20, "{exact:?} {alias:?}");
}

#[test]
fn a_tenants_counts_kept_from_before_are_the_counts() {
    // A long system prompt, history and tool-call arguments, sent again with one more turn: the
    // counts read back from before are what counting gives.
    let system = "You are the support assistant of a bicycle shop. Answer in two sentences at most. ".repeat(20);
    let args = format!("{{\"query\":\"{}\"}}", "brake pads for a gravel bike ".repeat(12));
    let turn = |extra: &str| {
        let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Which pads fit my bike? ".repeat(15)},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "search", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Shimano B05S resin pads, in stock. ".repeat(10)},
            {"role": "user", "content": extra}]});
        ChatRequest::from_value(body).unwrap()
    };
    for tenant in ["acme", "globex"] {
        for extra in ["Thanks!", "And for the rear wheel?", "Thanks!"] {
            let req = turn(extra);
            assert_eq!(prompt_tokens(&req, Some(tenant)), prompt_tokens(&req, None), "{tenant}: {extra}");
        }
    }
}
