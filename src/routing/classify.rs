//! Request classification: task class, difficulty and risk, each with a reason.
//!
//! Plain Rust, no network, no model. One pass over a bounded sample of the request's text feeds
//! counters: keyword and phrase cues from a table built once per process, code fences and code
//! punctuation, LaTeX commands, operators between numbers, scripts and stop words (for a language
//! guess), and identifier-shaped numbers (card, SSN, IBAN, phone) and e-mail addresses. A few
//! rules turn the counters into a decision, and each decision keeps the cues that decided it so
//! the reason reads like "code: 2 fenced blocks, python keywords, cues: function, debug".
//!
//! Words are looked up while the text is read: the scanner rolls an FNV hash over each word's
//! lowercase bytes and probes an open-addressing table built once from `CUES` (phrases of up to
//! three words are probed only after a word that starts one). A multi-pattern automaton
//! (`aho-corasick`) was not needed: the cues are whole words, and the single pass also has to
//! track fences, operators, scripts and digit runs, which an automaton would not save.
//!
//! Cost is bounded whatever the prompt's size: the last user turn is scanned up to
//! [`LAST_TURN_HEAD`] bytes from its start and [`LAST_TURN_TAIL`] from its end, the system prompt
//! up to [`SYSTEM_CAP`], the [`EARLIER_TURNS`] most recent other turns up to [`EARLIER_CAP`] each,
//! and at most [`MAX_TOOLS_SCANNED`] tool definitions. A 32k-token prompt therefore costs about
//! what a 2k-token one does: ~0.1–0.2 ms natively (figures in `bench/classifier/RESULTS.md`).
//!
//! Tuned on public prompt sets (BIG-bench, BFCL, WritingBench) with a held-out split; see
//! `bench/classifier/`.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::api::chat::{ChatRequest, Content, ContentPart, Message, ResponseFormat, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskClass {
    Classification,
    Extraction,
    Summarization,
    Rewrite,
    Translation,
    Code,
    Math,
    Reasoning,
    Creative,
    Chat,
    AgenticToolUse,
}

impl TaskClass {
    pub const ALL: [TaskClass; 11] = [
        TaskClass::Classification,
        TaskClass::Extraction,
        TaskClass::Summarization,
        TaskClass::Rewrite,
        TaskClass::Translation,
        TaskClass::Code,
        TaskClass::Math,
        TaskClass::Reasoning,
        TaskClass::Creative,
        TaskClass::Chat,
        TaskClass::AgenticToolUse,
    ];

    /// The snake_case name used in policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskClass::Classification => "classification",
            TaskClass::Extraction => "extraction",
            TaskClass::Summarization => "summarization",
            TaskClass::Rewrite => "rewrite",
            TaskClass::Translation => "translation",
            TaskClass::Code => "code",
            TaskClass::Math => "math",
            TaskClass::Reasoning => "reasoning",
            TaskClass::Creative => "creative",
            TaskClass::Chat => "chat",
            TaskClass::AgenticToolUse => "agentic_tool_use",
        }
    }

    pub fn parse(s: &str) -> Option<TaskClass> {
        TaskClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskTier {
    Low,
    Medium,
    High,
    Irreversible,
}

impl RiskTier {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Low => "low",
            RiskTier::Medium => "medium",
            RiskTier::High => "high",
            RiskTier::Irreversible => "irreversible",
        }
    }
}

/// What the classifier saw in the request, kept for policy conditions and explanations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Features {
    pub prompt_tokens: u64,
    /// Whether `prompt_tokens` is tiktoken-exact (an OpenAI-encoded model) or an estimate.
    pub prompt_tokens_exact: bool,
    pub messages: usize,
    pub user_turns: usize,
    pub system_tokens: u64,
    /// The leading system/developer messages' tokens, counted as `prompt_tokens` is (exact or
    /// estimated); `system_tokens` is the classifier's own chars/4 over every system message.
    pub system_prompt_tokens: u64,
    pub has_tools: bool,
    pub has_tool_results: bool,
    pub has_images: bool,
    pub wants_json: bool,
    pub has_schema: bool,
    pub max_output_tokens: Option<u64>,
    /// The model the client asked for, as sent.
    pub model: String,
    pub tools: usize,
    /// Fenced code blocks (pairs of ``` lines; an unclosed fence counts as one).
    pub code_blocks: u32,
    /// The language tag of the first fence, or the language whose keywords were seen most.
    pub code_language: Option<&'static str>,
    /// Code punctuation, keywords, indented lines and stack-trace words, summed.
    pub code_signals: u32,
    /// LaTeX commands, math symbols, operators between numbers and math words, summed.
    pub math_signals: u32,
    /// Largest run of digits seen in one number.
    pub max_digits: u32,
    pub constraint_cues: u32,
    pub reasoning_cues: u32,
    /// Lines that start a list item (`-`, `*`, `1.`): often one requirement each.
    pub list_items: u32,
    /// A cheap guess: `en`, `de`, `fr`, `es`, `it`, `pt`, `nl`, `pl`, `ru`, `zh`, `ja`, `ko`,
    /// `ar`, `he`, `hi`, `el`, `th`, `other`, or `unknown` (no letters).
    pub language: &'static str,
    /// More than ~30% of the letters or stop words are not English.
    pub non_english: bool,
    /// Kinds of personal data seen: `email`, `phone`, `ssn`, `card`, `iban`.
    pub personal_data: Vec<&'static str>,
    /// Bytes of text actually scanned, and whether some text was skipped to stay within the caps.
    pub scanned_bytes: usize,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub task: TaskClass,
    pub task_reason: String,
    /// 0 (trivial) to 1 (hard).
    pub difficulty: f64,
    pub difficulty_reason: String,
    pub risk: RiskTier,
    pub risk_reason: String,
    pub features: Features,
}

// ---------------------------------------------------------------------------------------------
// Scan limits

/// Bytes of the last user turn scanned from its start, and from its end.
pub const LAST_TURN_HEAD: usize = 6 * 1024;
pub const LAST_TURN_TAIL: usize = 2 * 1024;
/// Bytes of the system (and developer) prompt scanned, from its start: all system and developer
/// messages together, the latest first.
pub const SYSTEM_CAP: usize = 2 * 1024;
/// Bytes scanned from each earlier turn (the end of the turn), for this many most recent turns.
pub const EARLIER_CAP: usize = 512;
pub const EARLIER_TURNS: usize = 6;
/// Tool definitions whose name and description are read for write access.
pub const MAX_TOOLS_SCANNED: usize = 64;
const TOOL_DESCRIPTION_CAP: usize = 300;
/// The most text one request can cause to be scanned (tools aside).
pub const SCAN_BUDGET: usize = LAST_TURN_HEAD + LAST_TURN_TAIL + SYSTEM_CAP + EARLIER_CAP * EARLIER_TURNS;

/// Bytes at each end of the last user turn where instructions usually are; cues there count double.
const INSTRUCTION_ZONE: usize = 512;

// ---------------------------------------------------------------------------------------------
// Cue table

/// Cue kinds: bit positions in a word's mask.
mod cue {
    pub const CLASSIFY: u32 = 0;
    pub const EXTRACT: u32 = 1;
    pub const SUMMARIZE: u32 = 2;
    pub const REWRITE: u32 = 3;
    pub const TRANSLATE: u32 = 4;
    /// Words that ask for code work (code, function, debug, refactor).
    pub const CODE: u32 = 5;
    /// Programming-language keywords and API names (def, println, import, SELECT).
    pub const CODE_KW: u32 = 6;
    /// Words that ask for math work (solve, equation, integral).
    pub const MATH: u32 = 7;
    /// Arithmetic words (plus, minus, times, divided).
    pub const MATH_WORD: u32 = 8;
    pub const REASON: u32 = 9;
    pub const CREATIVE: u32 = 10;
    /// Greetings and small talk.
    pub const CHAT: u32 = 11;
    pub const CONSTRAINT: u32 = 12;
    /// Words that make a task harder whatever its class (prove, optimize, rigorous, edge cases).
    pub const HARD: u32 = 13;
    pub const MONEY: u32 = 14;
    pub const LEGAL: u32 = 15;
    pub const MEDICAL: u32 = 16;
    pub const PERSONAL: u32 = 17;
    /// Structured output asked for in words (json, yaml, table, schema).
    pub const FORMAT: u32 = 18;
    /// Generic generation verbs (write, compose, draft, generate).
    pub const WRITE: u32 = 19;
    /// Names of natural languages (french, spanish): support for translation.
    pub const LANG_NAME: u32 = 20;
    pub const QUESTION: u32 = 21;
    pub const STOP_EN: u32 = 22;
    pub const STOP_DE: u32 = 23;
    pub const STOP_FR: u32 = 24;
    pub const STOP_ES: u32 = 25;
    pub const STOP_IT: u32 = 26;
    pub const STOP_PT: u32 = 27;
    pub const STOP_NL: u32 = 28;
    pub const STOP_PL: u32 = 29;
    /// Internal: the word starts a phrase in the table.
    pub const PHRASE: u32 = 30;
    /// Money talk without movement (price, cost, stocks): medium risk at most.
    pub const FINANCE: u32 = 31;
    pub const COUNT: usize = 32;
}

const fn bit(c: u32) -> u64 {
    1u64 << c
}

const CLS: u64 = bit(cue::CLASSIFY);
const EXT: u64 = bit(cue::EXTRACT);
const SUM: u64 = bit(cue::SUMMARIZE);
const REW: u64 = bit(cue::REWRITE);
const TRA: u64 = bit(cue::TRANSLATE);
const COD: u64 = bit(cue::CODE);
const CKW: u64 = bit(cue::CODE_KW);
const MAT: u64 = bit(cue::MATH);
const MWD: u64 = bit(cue::MATH_WORD);
const REA: u64 = bit(cue::REASON);
const CRE: u64 = bit(cue::CREATIVE);
const CHT: u64 = bit(cue::CHAT);
const CON: u64 = bit(cue::CONSTRAINT);
const HRD: u64 = bit(cue::HARD);
const MON: u64 = bit(cue::MONEY);
const FIN: u64 = bit(cue::FINANCE);
const LEG: u64 = bit(cue::LEGAL);
const MED: u64 = bit(cue::MEDICAL);
const PER: u64 = bit(cue::PERSONAL);
const FMT: u64 = bit(cue::FORMAT);
const WRI: u64 = bit(cue::WRITE);
const LNG: u64 = bit(cue::LANG_NAME);
const QST: u64 = bit(cue::QUESTION);
const EN: u64 = bit(cue::STOP_EN);
const DE: u64 = bit(cue::STOP_DE);
const FR: u64 = bit(cue::STOP_FR);
const ES: u64 = bit(cue::STOP_ES);
const IT: u64 = bit(cue::STOP_IT);
const PT: u64 = bit(cue::STOP_PT);
const NL: u64 = bit(cue::STOP_NL);
const PL: u64 = bit(cue::STOP_PL);

/// Words and phrases (lowercase; phrases are words joined by one space, at most three words).
/// A phrase's first word is marked as a phrase start when the table is built.
#[rustfmt::skip]
static CUES: &[(&str, u64)] = &[
    // classification
    ("classify", CLS), ("classifies", CLS), ("classification", CLS), ("categorize", CLS), ("categorise", CLS),
    ("categorization", CLS), ("category", CLS), ("categories", CLS), ("label", CLS), ("labels", CLS),
    ("sentiment", CLS), ("spam", CLS), ("toxic", CLS), ("intent", CLS), ("ironic", CLS), ("sarcastic", CLS),
    ("plausible", CLS), ("implausible", CLS), ("supportive", CLS), ("unsupportive", CLS),
    ("true or false", CLS), ("yes or no", CLS), ("positive or negative", CLS), ("determine whether", CLS),
    ("identify whether", CLS), ("decide whether", CLS), ("which category", CLS),
    ("tag", CLS), ("emotion", CLS), ("respond with", CLS), ("answer with", CLS), ("valid or", CLS),
    ("or not", CLS),
    // extraction
    ("extract", EXT), ("extraction", EXT), ("extracts", EXT), ("entities", EXT), ("entity", EXT),
    ("named entities", EXT), ("pull out", EXT), ("list all", EXT), ("find all", EXT), ("fields", EXT),
    ("based on", EXT), ("according to", EXT), ("passage", EXT),
    ("context", EXT), ("paragraph", EXT), ("mentioned", EXT), ("mentions", EXT), ("parse", EXT),
    ("sentence numbers", EXT), ("given passage", EXT), ("given context", EXT),
    // summarization
    ("summarize", SUM), ("summarise", SUM), ("summary", SUM), ("summaries", SUM), ("summarization", SUM),
    ("summarizing", SUM), ("tldr", SUM), ("tl dr", SUM), ("key points", SUM), ("main points", SUM),
    ("condense", SUM), ("recap", SUM), ("gist", SUM), ("one sentence", SUM), ("one-sentence", SUM),
    ("headline", SUM), ("abstract", SUM), ("synopsis", SUM), ("overview", SUM), ("brief", SUM),
    // rewrite / format
    ("rewrite", REW), ("rewrites", REW), ("rephrase", REW), ("paraphrase", REW), ("paraphrases", REW),
    ("reword", REW), ("proofread", REW), ("simplify", REW), ("simplified", REW), ("shorten", REW),
    ("polish", REW), ("edit", REW), ("revise", REW), ("reformat", REW), ("convert", REW), ("tense", REW),
    ("grammar", REW), ("grammatical", REW), ("fix the grammar", REW), ("more formal", REW),
    ("more concise", REW), ("less formal", REW), ("change the", REW), ("modify", REW), ("correct the", REW),
    ("replace", REW), ("corrected", REW), ("unscramble", REW), ("reorder", REW), ("gender-inclusive", REW),
    ("transform", REW), ("title", REW), ("press release", REW), ("make it", REW),
    // translation
    ("translate", TRA), ("translates", TRA), ("translated", TRA), ("translation", TRA), ("translations", TRA),
    ("translating", TRA), ("transliterate", TRA), ("transliteration", TRA),
    ("into english", TRA), ("pig latin", TRA), ("equivalent", TRA),
    ("english", LNG), ("french", LNG), ("spanish", LNG), ("german", LNG), ("italian", LNG),
    ("portuguese", LNG), ("dutch", LNG), ("polish", LNG), ("russian", LNG), ("chinese", LNG),
    ("japanese", LNG), ("korean", LNG), ("arabic", LNG), ("hindi", LNG), ("swahili", LNG),
    ("persian", LNG), ("turkish", LNG), ("latin", LNG), ("mandarin", LNG), ("vietnamese", LNG),
    ("language", LNG), ("languages", LNG), ("ipa", LNG), ("idiom", LNG), ("proverb", LNG),
    // code: task words
    ("code", COD), ("coding", COD), ("program", COD), ("programming", COD), ("function", COD),
    ("functions", COD), ("script", COD), ("debug", COD), ("debugging", COD), ("bug", COD), ("bugs", COD),
    ("compile", COD), ("compiler", COD), ("refactor", COD), ("implement", COD), ("implementation", COD),
    ("algorithm", COD), ("regex", COD), ("sql", COD), ("query", COD), ("api", COD), ("endpoint", COD),
    ("unit test", COD), ("unit tests", COD), ("stack trace", COD), ("traceback", COD), ("exception", COD),
    ("stacktrace", COD), ("segfault", COD), ("panicked", COD), ("nullpointerexception", COD),
    ("syntaxerror", COD), ("typeerror", COD), ("valueerror", COD), ("keyerror", COD), ("runtime error", COD),
    ("python", COD), ("javascript", COD), ("typescript", COD), ("rust", COD), ("java", COD),
    ("golang", COD), ("c++", COD), ("kotlin", COD), ("swift", COD), ("haskell", COD), ("bash", COD),
    ("html", COD), ("css", COD), ("react", COD), ("node", COD), ("database", COD), ("schema", COD | FMT),
    ("variable", COD), ("loop", COD), ("array", COD), ("compile error", COD), ("pull request", COD),
    ("repository", COD), ("git", COD), ("docker", COD), ("kubernetes", COD), ("frontend", COD),
    ("backend", COD), ("library", COD), ("method", COD), ("class", COD | CKW), ("snippet", COD),
    ("pseudocode", COD), ("dockerfile", COD), ("json", FMT), ("yaml", FMT), ("csv", FMT), ("xml", FMT),
    // code: language keywords (cheap signals, weak alone)
    ("def", CKW), ("fn", CKW), ("impl", CKW), ("struct", CKW), ("enum", CKW), ("println", CKW),
    ("printf", CKW), ("print", CKW), ("console", CKW), ("const", CKW), ("var", CKW), ("let", CKW),
    ("elif", CKW), ("lambda", CKW), ("async", CKW), ("await", CKW), ("import", CKW), ("return", CKW),
    ("void", CKW), ("int", CKW), ("public", CKW), ("private", CKW), ("static", CKW), ("namespace", CKW),
    ("include", CKW), ("std", CKW), ("self", CKW), ("this", CKW | EN), ("null", CKW), ("nil", CKW),
    ("none", CKW), ("true", CKW), ("false", CKW), ("select", CKW), ("from", CKW | EN), ("where", CKW | QST),
    ("insert", CKW), ("update", CKW), ("join", CKW), ("range", CKW), ("len", CKW), ("str", CKW),
    ("args", CKW), ("kwargs", CKW), ("pub", CKW), ("mut", CKW), ("usize", CKW), ("u8", CKW),
    ("i32", CKW), ("vec", CKW), ("string", CKW), ("bool", CKW), ("boolean", CKW), ("func", CKW),
    ("interface", CKW), ("extends", CKW), ("implements", CKW), ("npm", CKW), ("pip", CKW),
    ("cargo", CKW), ("undefined", CKW), ("nan", CKW), ("stdout", CKW), ("stderr", CKW), ("argv", CKW),
    ("malloc", CKW), ("nullptr", CKW), ("typedef", CKW), ("pragma", CKW), ("foreach", CKW),
    ("useeffect", CKW), ("usestate", CKW), ("div", CKW), ("href", CKW), ("localhost", CKW),
    // math
    ("solve", MAT), ("solving", MAT), ("equation", MAT), ("equations", MAT), ("calculate", MAT),
    ("calculation", MAT), ("compute", MAT), ("integral", MAT), ("integrate", MAT), ("derivative", MAT),
    ("differentiate", MAT), ("probability", MAT), ("theorem", MAT | HRD), ("lemma", MAT | HRD),
    ("matrix", MAT), ("matrices", MAT), ("algebra", MAT), ("geometry", MAT), ("polynomial", MAT),
    ("prime", MAT), ("primes", MAT), ("modulo", MAT), ("factorial", MAT), ("arithmetic", MAT),
    ("math", MAT), ("maths", MAT), ("mathematical", MAT), ("mathematics", MAT), ("triangle", MAT),
    ("circle", MAT), ("radius", MAT), ("area", MAT), ("perimeter", MAT), ("volume", MAT), ("angle", MAT),
    ("fraction", MAT), ("fractions", MAT), ("percentage", MAT), ("percent", MAT), ("ratio", MAT),
    ("average", MAT), ("mean", MAT), ("median", MAT), ("variance", MAT), ("logarithm", MAT),
    ("exponent", MAT), ("sqrt", MAT), ("square root", MAT), ("integer", MAT), ("integers", MAT),
    ("divisible", MAT), ("remainder", MAT), ("how many", MWD | QST), ("how much", MWD | QST),
    ("formula", MAT), ("converted", MAT), ("units", MAT), ("induction", MAT | HRD), ("sum", MAT),
    ("product", MAT), ("vector", MAT),
    ("shape", MAT), ("hadamard", MAT), ("eigenvalue", MAT | HRD), ("eigenvalues", MAT | HRD),
    ("plus", MWD), ("minus", MWD), ("times", MWD), ("divided", MWD), ("multiplied", MWD),
    ("multiply", MWD), ("subtract", MWD), ("add", MWD), ("divide", MWD), ("squared", MWD),
    ("cubed", MWD), ("half", MWD), ("twice", MWD), ("total", MWD), ("altogether", MWD),
    ("remaining", MWD), ("kilometers", MWD), ("meters", MWD), ("miles", MWD), ("grams", MWD),
    ("kg", MWD), ("mph", MWD), ("per", MWD), ("op", MWD),
    // reasoning and analysis
    ("why", REA | QST), ("analyze", REA), ("analyse", REA), ("analysis", REA), ("compare", REA),
    ("comparison", REA), ("contrast", REA), ("evaluate", REA), ("assess", REA), ("argue", REA),
    ("argument", REA), ("arguments", REA), ("reasoning", REA), ("reason", REA), ("infer", REA),
    ("deduce", REA), ("deduction", REA), ("logic", REA), ("logical", REA), ("logically", REA),
    ("puzzle", REA), ("riddle", REA), ("premise", REA), ("premises", REA), ("hypothesis", REA),
    ("conclusion", REA), ("implications", REA), ("critique", REA), ("justify", REA | HRD),
    ("explain", REA), ("explanation", REA), ("pros and cons", REA), ("trade-off", REA | HRD),
    ("trade-offs", REA | HRD), ("tradeoff", REA | HRD), ("tradeoffs", REA | HRD), ("would happen", REA),
    ("cause", REA), ("caused", REA), ("causal", REA), ("valid", REA), ("invalid", REA), ("fallacy", REA),
    ("we know that", REA), ("can we conclude", REA), ("does it follow", REA), ("must be true", REA),
    ("is it true that", REA), ("is it possible", REA), ("entail", REA), ("entails", REA), ("entailment", REA), ("contradiction", REA), ("implies", REA),
    ("therefore", REA), ("strategy", REA), ("decide", REA), ("evaluate whether", REA), ("moral", REA),
    ("ethical", REA), ("think through", REA), ("consequences", REA), ("paradox", REA), ("dilemma", REA),
    ("order", REA), ("left", REA), ("right", REA), ("swap", REA), ("swaps", REA), ("trade", REA),
    ("deductive", REA), ("syllogism", REA), ("relation", REA), ("relationship", REA), ("suppose", REA),
    // difficulty cues beyond the class
    ("prove", MAT | HRD), ("proof", MAT | HRD), ("proofs", MAT | HRD), ("rigorous", HRD),
    ("rigorously", HRD), ("derive", HRD), ("derivation", HRD), ("optimize", HRD), ("optimise", HRD),
    ("optimal", HRD), ("architecture", HRD), ("design", HRD), ("scalable", HRD), ("concurrency", HRD),
    ("concurrent", HRD), ("thread-safe", HRD), ("edge cases", HRD), ("complexity", HRD),
    ("time complexity", HRD), ("big o", HRD), ("counterexample", HRD | MAT), ("step by step", HRD | CON),
    ("in-depth", HRD), ("comprehensive", HRD), ("thorough", HRD), ("detailed", HRD),
    ("multi-step", HRD), ("nuanced", HRD), ("formally", HRD), ("asymptotic", HRD), ("distributed", HRD),
    // constraints
    ("must", CON), ("exactly", CON), ("do not", CON), ("don't", CON), ("never", CON), ("always", CON),
    ("only", CON), ("at least", CON), ("at most", CON), ("no more than", CON), ("no less than", CON),
    ("make sure", CON), ("ensure", CON), ("strictly", CON), ("required", CON), ("requirements", CON),
    ("without", CON), ("should not", CON), ("must not", CON), ("avoid", CON), ("limit", CON),
    ("words or less", CON), ("or fewer", CON), ("maximum", CON), ("minimum", CON), ("mustn't", CON),
    ("shouldn't", CON), ("each", CON), ("every", CON), ("bullet points", CON | FMT), ("format", CON | FMT),
    ("table", FMT), ("markdown", FMT), ("bullet", FMT), ("list", FMT),
    // creative writing
    ("story", CRE), ("stories", CRE), ("poem", CRE), ("poems", CRE), ("poetry", CRE), ("haiku", CRE),
    ("sonnet", CRE), ("limerick", CRE), ("song", CRE), ("lyrics", CRE), ("verse", CRE), ("rhyme", CRE),
    ("novel", CRE), ("fiction", CRE), ("fictional", CRE),
    ("plot", CRE), ("screenplay", CRE), ("scene", CRE), ("dialogue", CRE), ("creative", CRE),
    ("imagine", CRE), ("slogan", CRE), ("tagline", CRE), ("joke", CRE), ("jokes", CRE), ("essay", CRE),
    ("blog", CRE), ("narrative", CRE), ("once upon", CRE), ("fantasy", CRE), ("brainstorm", CRE),
    ("ideas", CRE), ("tale", CRE), ("fable", CRE), ("protagonist", CRE), ("chapter", CRE), ("villain", CRE),
    ("role-play", CRE), ("roleplay", CRE), ("pretend", CRE), ("invent", CRE), ("sentence that uses", CRE),
    ("uses the concepts", CRE), ("concepts", CRE), ("speech", CRE), ("toast", CRE), ("letter", CRE),
    ("advertisement", CRE), ("ad copy", CRE), ("catchy", CRE), ("funny", CRE), ("humorous", CRE),
    ("write", WRI), ("writing", WRI), ("compose", WRI), ("draft", WRI), ("generate", WRI),
    ("create", WRI), ("come up with", WRI), ("make up", WRI),
    // chat
    ("hi", CHT), ("hello", CHT), ("hey", CHT), ("thanks", CHT), ("thank you", CHT), ("how are you", CHT),
    ("good morning", CHT), ("good night", CHT), ("bye", CHT), ("goodbye", CHT), ("cheers", CHT),
    ("lol", CHT), ("chat", CHT), ("agent_a", CHT), ("agent_b", CHT), ("human", CHT), ("assistant", CHT),
    ("you", EN), ("your", EN), ("recommend", CHT), ("suggest", CHT), ("advice", CHT),
    ("tips", CHT), ("favorite", CHT), ("favourite", CHT), ("opinion", CHT), ("fan", CHT),
    ("what", QST | EN), ("who", QST), ("when", QST), ("which", QST | EN), ("how", QST), ("tell me", QST),
    // money movement and finance (risk)
    ("payment", MON), ("payments", MON), ("pay", MON), ("paid", MON), ("invoice", MON), ("invoices", MON),
    ("refund", MON), ("refunds", MON), ("bank", MON), ("banking", MON), ("iban", MON | PER), ("swift", COD),
    ("paypal", MON), ("venmo", MON), ("bitcoin", FIN), ("crypto", FIN), ("cryptocurrency", FIN),
    ("wallet", MON), ("payroll", MON), ("loan", FIN), ("loans", FIN), ("mortgage", FIN),
    ("credit card", MON | PER), ("debit card", MON | PER), ("bank account", MON | PER),
    ("routing number", MON | PER), ("account number", MON | PER), ("wire transfer", MON),
    ("bank transfer", MON), ("transfer money", MON), ("transfer funds", MON), ("send money", MON),
    ("withdraw", MON), ("withdrawal", MON), ("deposit", MON), ("transaction", MON), ("transactions", MON),
    ("salary", FIN), ("tax", FIN), ("taxes", FIN), ("invest", FIN), ("investment", FIN),
    ("investments", FIN), ("stocks", FIN), ("brokerage", FIN), ("checkout", MON), ("purchase", MON),
    ("billing", MON), ("charge", MON), ("usd", FIN), ("eur", FIN), ("dollars", FIN), ("euros", FIN),
    ("price", FIN), ("cost", FIN), ("budget", FIN), ("funds", FIN), ("finance", FIN), ("financial", FIN),
    // legal (risk)
    ("legal", LEG), ("legally", LEG), ("lawsuit", LEG), ("lawyer", LEG), ("attorney", LEG), ("court", LEG),
    ("contract", LEG), ("contracts", LEG), ("liability", LEG), ("litigation", LEG), ("sue", LEG),
    ("plaintiff", LEG), ("defendant", LEG), ("statute", LEG), ("gdpr", LEG), ("hipaa", LEG),
    ("compliance", LEG), ("regulation", LEG), ("regulations", LEG), ("regulatory", LEG),
    ("copyright", LEG), ("patent", LEG), ("trademark", LEG), ("nda", LEG), ("custody", LEG),
    ("divorce", LEG), ("terms of service", LEG), ("subpoena", LEG), ("felony", LEG), ("illegal", LEG),
    ("jurisdiction", LEG), ("arbitration", LEG), ("clause", LEG),
    // Not "tenant": in code questions it is a SaaS customer far more often than a renter.
    ("clauses", LEG), ("landlord", LEG), ("lease", LEG), ("criminal", LEG),
    ("judge", LEG), ("verdict", LEG), ("legislation", LEG), ("arrested", LEG), ("police", LEG),
    ("evicted", LEG), ("eviction", LEG), ("immigration", LEG), ("deported", LEG),
    // medical (risk)
    ("diagnosis", MED), ("diagnose", MED), ("symptom", MED), ("symptoms", MED), ("medication", MED),
    ("medications", MED), ("medicine", MED), ("dosage", MED), ("dose", MED), ("doses", MED),
    ("prescription", MED), ("prescribe", MED), ("treatment", MED), ("disease", MED), ("patient", MED),
    ("patients", MED), ("clinical", MED), ("surgery", MED), ("cancer", MED), ("tumor", MED),
    ("diabetes", MED), ("insulin", MED), ("overdose", MED), ("suicide", MED), ("suicidal", MED),
    ("self-harm", MED), ("pregnant", MED), ("pregnancy", MED), ("antibiotic", MED), ("antibiotics", MED),
    ("vaccine", MED), ("therapy", MED), ("doctor", MED), ("physician", MED), ("hospital", MED),
    ("mg", MED), ("side effects", MED), ("blood pressure", MED), ("depression", MED),
    ("chemotherapy", MED), ("allergy", MED), ("allergic", MED), ("infection", MED), ("drug", MED),
    // Not "health": a health check or health endpoint is infrastructure.
    ("drugs", MED), ("medical", MED), ("nurse", MED), ("covid", MED), ("covid-19", MED),
    ("kill myself", MED), ("end my life", MED), ("hurt myself", MED), ("chest pain", MED), ("fever", MED),
    ("ibuprofen", MED), ("paracetamol", MED), ("acetaminophen", MED),
    // personal data (risk)
    ("ssn", PER), ("social security", PER), ("passport", PER), ("date of birth", PER), ("password", PER),
    ("passwords", PER), ("home address", PER), ("phone number", PER), ("credit score", PER),
    ("driver's license", PER), ("medical record", PER | MED), ("medical records", PER | MED), ("pii", PER),
    ("personal data", PER), ("personal information", PER), ("email address", PER), ("credentials", PER),
    // English stop words
    ("the", EN), ("and", EN), ("is", EN), ("are", EN), ("of", EN), ("to", EN), ("it", EN), ("that", EN),
    ("for", EN), ("with", EN), ("on", EN), ("be", EN), ("was", EN), ("can", EN), ("have", EN), ("i", EN),
    ("my", EN), ("not", EN), ("do", EN), ("will", EN), ("by", EN), ("at", EN), ("or", EN), ("an", EN),
    ("as", EN), ("if", EN), ("would", EN), ("should", EN), ("there", EN), ("their", EN), ("they", EN),
    ("we", EN), ("please", EN), ("following", EN), ("about", EN), ("these", EN), ("has", EN), ("been", EN),
    ("it's", EN), ("i'm", EN), ("into", EN), ("than", EN), ("then", EN), ("them", EN), ("also", EN),
    // German
    ("der", DE), ("und", DE), ("ist", DE), ("nicht", DE), ("ein", DE), ("eine", DE), ("das", DE), ("zu", DE),
    ("mit", DE), ("sich", DE), ("auf", DE), ("für", DE), ("von", DE | NL), ("dem", DE), ("den", DE),
    ("des", DE | FR), ("ich", DE), ("wir", DE), ("auch", DE), ("wie", DE), ("aber", DE), ("oder", DE),
    ("wird", DE), ("werden", DE), ("sind", DE), ("bei", DE), ("nach", DE), ("aus", DE), ("noch", DE),
    ("kann", DE), ("über", DE), ("schon", DE), ("dass", DE), ("wenn", DE), ("sie", DE), ("im", DE),
    ("die", DE), ("leider", DE), ("sehr", DE), ("war", DE), ("hat", DE), ("habe", DE), ("ja", DE),
    // French
    ("le", FR), ("les", FR), ("et", FR), ("est", FR), ("une", FR), ("pour", FR), ("dans", FR), ("pas", FR),
    ("du", FR), ("au", FR | PT), ("qui", FR), ("que", FR | ES | PT), ("sur", FR), ("avec", FR),
    ("sont", FR), ("mais", FR | PT), ("très", FR), ("il", FR | IT), ("elle", FR), ("nous", FR),
    ("vous", FR), ("je", FR), ("ce", FR), ("cette", FR), ("été", FR), ("un", FR | IT), ("la", FR | ES | IT),
    ("ou", FR), ("ne", FR), ("c'est", FR), ("j'ai", FR),
    // Spanish
    ("el", ES), ("los", ES), ("las", ES), ("del", ES | IT), ("y", ES), ("por", ES | PT), ("para", ES | PT),
    ("una", ES | IT), ("es", ES), ("con", ES | IT), ("se", ES | PT | FR), ("lo", ES), ("su", ES),
    ("al", ES), ("como", ES | PT), ("más", ES), ("pero", ES), ("sus", ES), ("ya", ES), ("está", ES | PT),
    ("muy", ES), ("también", ES), ("fue", ES), ("hay", ES), ("qué", ES), ("este", ES | PT), ("esta", ES | PT),
    // Italian
    ("che", IT), ("di", IT), ("della", IT), ("delle", IT), ("degli", IT), ("è", IT), ("sono", IT),
    ("non", IT), ("gli", IT), ("nel", IT), ("nella", IT), ("anche", IT), ("più", IT), ("ma", IT),
    ("ci", IT), ("questo", IT), ("questa", IT), ("molto", IT), ("stato", IT), ("alla", IT), ("perché", IT),
    // Portuguese
    ("os", PT), ("não", PT), ("uma", PT), ("com", PT), ("são", PT), ("você", PT), ("também", PT),
    ("muito", PT), ("mais", PT), ("foi", PT), ("pelo", PT), ("pela", PT), ("ao", PT), ("da", PT | IT),
    ("do", PT | EN), ("das", PT | DE), ("dos", PT), ("em", PT), ("é", PT), ("nos", PT), ("seu", PT),
    // Dutch
    ("het", NL), ("een", NL), ("niet", NL), ("van", NL), ("zijn", NL), ("te", NL), ("dat", NL),
    ("voor", NL), ("met", NL), ("ook", NL), ("wordt", NL), ("maar", NL), ("naar", NL), ("bij", NL),
    ("nog", NL), ("dit", NL), ("deze", NL), ("wij", NL), ("ze", NL), ("zij", NL), ("heeft", NL),
    // Polish
    ("nie", PL), ("się", PL), ("jest", PL), ("że", PL), ("w", PL), ("z", PL), ("ale", PL), ("czy", PL),
    ("są", PL), ("przez", PL), ("jego", PL), ("już", PL), ("tylko", PL), ("może", PL), ("bardzo", PL),
    ("był", PL), ("na", PL), ("jak", PL), ("od", PL), ("po", PL), ("ze", PL | NL), ("dla", PL),
];

/// FNV-1a over bytes: rolled one byte at a time while a word is read, so looking a word up
/// costs no second pass over it.
const HASH_SEED: u32 = 0x811c_9dc5;

#[inline]
fn roll(h: u32, b: u8) -> u32 {
    (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
}

fn hash_bytes(bytes: &[u8]) -> u32 {
    bytes.iter().fold(HASH_SEED, |h, &b| roll(h, b))
}

#[derive(Clone, Copy)]
struct Slot {
    hash: u32,
    key: &'static [u8],
    name: &'static str,
    mask: u64,
}

/// An open-addressing table from word (or phrase) to cue mask, at most a quarter full.
struct CueTable {
    slots: Vec<Slot>,
}

impl CueTable {
    fn index(&self, hash: u32) -> usize {
        (hash ^ (hash >> 15)) as usize & (self.slots.len() - 1)
    }

    /// Looks up words joined by single spaces without building the joined key.
    fn get_joined(&self, parts: &[&[u8]]) -> Option<(&'static str, u64)> {
        let mut hash = HASH_SEED;
        let mut len = 0;
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                hash = roll(hash, b' ');
                len += 1;
            }
            hash = p.iter().fold(hash, |h, &b| roll(h, b));
            len += p.len();
        }
        let mut i = self.index(hash);
        loop {
            let s = &self.slots[i];
            if s.key.is_empty() {
                return None;
            }
            if s.hash == hash && s.key.len() == len && joined_eq(s.key, parts) {
                return Some((s.name, s.mask));
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }

    #[inline]
    fn get(&self, hash: u32, key: &[u8]) -> Option<(&'static str, u64)> {
        let mut i = self.index(hash);
        loop {
            let s = &self.slots[i];
            if s.key.is_empty() {
                return None;
            }
            if s.hash == hash && s.key == key {
                return Some((s.name, s.mask));
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }

    fn add(&mut self, key: &'static str, mask: u64) {
        let hash = hash_bytes(key.as_bytes());
        let mut i = self.index(hash);
        loop {
            let s = &mut self.slots[i];
            if s.key.is_empty() {
                *s = Slot {
                    hash,
                    key: key.as_bytes(),
                    name: key,
                    mask,
                };
                return;
            }
            if s.key == key.as_bytes() {
                s.mask |= mask;
                return;
            }
            i = (i + 1) & (self.slots.len() - 1);
        }
    }
}

/// The cue table, built once per process (about 1,000 entries).
fn cues() -> &'static CueTable {
    static TABLE: OnceLock<CueTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let size = (CUES.len() * 4).next_power_of_two();
        let mut t = CueTable {
            slots: vec![
                Slot {
                    hash: 0,
                    key: b"",
                    name: "",
                    mask: 0
                };
                size
            ],
        };
        for &(key, mask) in CUES {
            t.add(key, mask);
        }
        for &(key, _) in CUES {
            if let Some((first, _)) = key.split_once(' ') {
                t.add(&key[..first.len()], bit(cue::PHRASE));
            }
        }
        t
    })
}

fn is_latex_command(w: &[u8]) -> bool {
    matches!(
        w,
        b"frac"
            | b"dfrac"
            | b"sqrt"
            | b"int"
            | b"iint"
            | b"oint"
            | b"sum"
            | b"prod"
            | b"lim"
            | b"infty"
            | b"alpha"
            | b"beta"
            | b"gamma"
            | b"delta"
            | b"epsilon"
            | b"theta"
            | b"lambda"
            | b"mu"
            | b"pi"
            | b"sigma"
            | b"omega"
            | b"phi"
            | b"cdot"
            | b"times"
            | b"leq"
            | b"geq"
            | b"neq"
            | b"le"
            | b"ge"
            | b"mathbb"
            | b"mathbf"
            | b"mathrm"
            | b"begin"
            | b"end"
            | b"left"
            | b"right"
            | b"partial"
            | b"nabla"
            | b"binom"
            | b"log"
            | b"ln"
            | b"sin"
            | b"cos"
            | b"tan"
            | b"forall"
            | b"exists"
            | b"in"
            | b"subset"
            | b"cup"
            | b"cap"
            | b"equiv"
            | b"pmod"
            | b"mod"
            | b"vec"
            | b"hat"
            | b"bar"
            | b"overline"
            | b"approx"
            | b"rightarrow"
            | b"to"
    )
}

fn fence_language(w: &[u8]) -> Option<&'static str> {
    Some(match w {
        b"python" | b"py" | b"python3" => "python",
        b"rust" | b"rs" => "rust",
        b"javascript" | b"js" | b"jsx" | b"node" => "javascript",
        b"typescript" | b"ts" | b"tsx" => "typescript",
        b"java" => "java",
        b"c" | b"h" => "c",
        b"cpp" | b"c++" | b"cc" | b"hpp" => "c++",
        b"csharp" | b"cs" => "c#",
        b"go" | b"golang" => "go",
        b"sql" | b"postgresql" | b"mysql" => "sql",
        b"bash" | b"sh" | b"shell" | b"zsh" | b"console" => "shell",
        b"ruby" | b"rb" => "ruby",
        b"php" => "php",
        b"kotlin" | b"kt" => "kotlin",
        b"swift" => "swift",
        b"html" | b"xml" => "html",
        b"css" | b"scss" => "css",
        b"json" => "json",
        b"yaml" | b"yml" | b"toml" => "config",
        b"haskell" | b"hs" => "haskell",
        b"scala" => "scala",
        b"r" => "r",
        b"lua" => "lua",
        b"dockerfile" => "dockerfile",
        _ => return None,
    })
}

/// The language a keyword most suggests, for the reason when no fence names one.
fn keyword_language(w: &[u8]) -> Option<&'static str> {
    Some(match w {
        b"def" | b"elif" | b"kwargs" | b"self" | b"none" | b"lambda" | b"python" => "python",
        b"fn" | b"impl" | b"println" | b"mut" | b"usize" | b"vec" | b"pub" | b"cargo" | b"rust" => "rust",
        b"console" | b"const" | b"undefined" | b"npm" | b"useeffect" | b"usestate" | b"javascript" => "javascript",
        b"select" | b"join" | b"sql" => "sql",
        b"printf" | b"malloc" | b"typedef" | b"nullptr" | b"include" | b"std" => "c/c++",
        b"void" | b"public" | b"static" | b"implements" | b"java" => "java",
        b"func" | b"nil" | b"golang" => "go",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// The scan

/// Script indices for letter counts.
const SCRIPT_LATIN: usize = 0;
const SCRIPT_LATIN_EXT: usize = 1;
const SCRIPT_CYRILLIC: usize = 2;
const SCRIPT_GREEK: usize = 3;
const SCRIPT_ARABIC: usize = 4;
const SCRIPT_HEBREW: usize = 5;
const SCRIPT_DEVANAGARI: usize = 6;
const SCRIPT_INDIC: usize = 7;
const SCRIPT_THAI: usize = 8;
const SCRIPT_HAN: usize = 9;
const SCRIPT_KANA: usize = 10;
const SCRIPT_HANGUL: usize = 11;
const SCRIPT_OTHER: usize = 12;
const SCRIPTS: usize = 13;

fn script_of(c: char) -> Option<usize> {
    if c.is_ascii_alphabetic() {
        return Some(SCRIPT_LATIN);
    }
    if c.is_ascii() {
        return None;
    }
    let u = c as u32;
    Some(match u {
        0x00C0..=0x024F if c != '×' && c != '÷' => SCRIPT_LATIN_EXT,
        0x0370..=0x03FF => SCRIPT_GREEK,
        0x0400..=0x052F => SCRIPT_CYRILLIC,
        0x0590..=0x05FF => SCRIPT_HEBREW,
        0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => SCRIPT_ARABIC,
        0x0900..=0x097F => SCRIPT_DEVANAGARI,
        0x0980..=0x0DFF => SCRIPT_INDIC,
        0x0E00..=0x0E7F => SCRIPT_THAI,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9D => SCRIPT_KANA,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF => SCRIPT_HAN,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => SCRIPT_HANGUL,
        _ if c.is_alphabetic() => SCRIPT_OTHER,
        _ => return None,
    })
}

fn is_math_symbol(c: char) -> bool {
    matches!(
        c,
        '∑' | '∫'
            | '√'
            | '≤'
            | '≥'
            | '≠'
            | 'π'
            | '∞'
            | '∀'
            | '∃'
            | '∈'
            | '∉'
            | '±'
            | '×'
            | '÷'
            | '∂'
            | '∇'
            | '≈'
            | '≡'
            | '⊂'
            | '⊆'
            | '∪'
            | '∩'
            | '→'
            | '⇒'
            | '⇔'
            | 'ℝ'
            | 'ℕ'
            | 'ℤ'
            | 'ℚ'
            | '²'
            | '³'
            | 'θ'
            | 'λ'
            | 'Σ'
            | '∏'
            | '∠'
            | '△'
    )
}

const WORD_CAP: usize = 32;

#[derive(Clone, Copy)]
struct Word {
    buf: [u8; WORD_CAP],
    len: usize,
    hash: u32,
    overflow: bool,
    start: usize,
    digits: u32,
    upper_inner: bool,
    underscore: bool,
    after_backslash: bool,
}

impl Default for Word {
    fn default() -> Self {
        Word {
            buf: [0; WORD_CAP],
            len: 0,
            hash: HASH_SEED,
            overflow: false,
            start: 0,
            digits: 0,
            upper_inner: false,
            underscore: false,
            after_backslash: false,
        }
    }
}

impl Word {
    fn reset(&mut self) {
        self.len = 0;
        self.hash = HASH_SEED;
        self.overflow = false;
        self.digits = 0;
        self.upper_inner = false;
        self.underscore = false;
        self.after_backslash = false;
    }
    fn push(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > WORD_CAP {
            self.overflow = true;
            return;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        self.hash = bytes.iter().fold(self.hash, |h, &b| roll(h, b));
    }
    #[inline]
    fn push_byte(&mut self, b: u8) {
        if self.len < WORD_CAP {
            self.buf[self.len] = b;
            self.len += 1;
            self.hash = roll(self.hash, b);
        } else {
            self.overflow = true;
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The two previous words, for phrase lookups.
#[derive(Default)]
struct History {
    w1: [u8; WORD_CAP],
    w1_len: usize,
    w1_phrase: bool,
    w2: [u8; WORD_CAP],
    w2_len: usize,
    w2_phrase: bool,
}

/// A run of digits with separators, for card, SSN, IBAN and phone shapes.
#[derive(Default)]
struct DigitRun {
    active: bool,
    plus: bool,
    /// Room for a 19-digit card with an expiry and a 4-digit code after it.
    digits: [u8; 28],
    n: usize,
    groups: [u8; 8],
    g: usize,
    in_group: bool,
    seps: u32,
    dash: bool,
    space: bool,
    dot: bool,
    other_sep: bool,
    /// Separators since the last digit, noted on the run only when a digit follows: a card
    /// number at the end of a sentence ("... 1111.") or an address before a word is whole.
    pending: [Option<char>; 2],
}

impl DigitRun {
    fn digit(&mut self, d: u8, plus: bool) {
        if !self.active {
            *self = DigitRun {
                active: true,
                plus,
                ..DigitRun::default()
            };
        }
        for c in std::mem::take(&mut self.pending).into_iter().flatten() {
            match c {
                '-' => self.dash = true,
                ' ' => self.space = true,
                '.' => {
                    self.dot = true;
                    self.other_sep = true;
                }
                _ => self.other_sep = true,
            }
        }
        if self.n < self.digits.len() {
            self.digits[self.n] = d;
        }
        self.n += 1;
        if !self.in_group {
            self.in_group = true;
            if self.g < self.groups.len() {
                self.groups[self.g] = 0;
            }
            self.g += 1;
        }
        if self.g <= self.groups.len() {
            self.groups[self.g - 1] = self.groups[self.g - 1].saturating_add(1);
        }
        self.seps = 0;
    }
    /// A separator; false when the run ends here (too many separators in a row).
    fn sep(&mut self, c: char) -> bool {
        self.in_group = false;
        self.seps += 1;
        if let Some(slot) = self.pending.get_mut(self.seps as usize - 1) {
            *slot = Some(c);
        }
        self.seps <= 2
    }
}

/// A card number's first digit on the networks in wide use: 2 and 5 Mastercard, 3 Amex, Diners
/// and JCB, 4 Visa, 6 Discover, UnionPay and Maestro. A 13-digit millisecond timestamp (17...)
/// passes the Luhn check one time in ten, and is no card.
fn card_network_digit(first: u8) -> bool {
    (2..=6).contains(&first)
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

#[derive(Default)]
struct Scan {
    /// Weighted cue counts (instruction zone doubles), raw hits, and up to three example cues.
    weight: [f32; cue::COUNT],
    hits: [u32; cue::COUNT],
    examples: [[&'static str; 3]; cue::COUNT],
    example_n: [u8; cue::COUNT],
    words: u32,
    letters: [u32; SCRIPTS],
    fences: u32,
    fence_lang: Option<&'static str>,
    kw_langs: [(Option<&'static str>, u32); 4],
    code_syms: u32,
    indented_lines: u32,
    code_idents: u32,
    list_items: u32,
    lines: u32,
    math_ops: u32,
    math_syms: u32,
    latex: u32,
    dollar_math: u32,
    numbers: u32,
    max_digits: u32,
    money_amounts: u32,
    emails: u32,
    phones: u32,
    ssns: u32,
    cards: u32,
    ibans: u32,
    questions: u32,
    scanned: usize,
    /// API keys and private keys (see [`Scan::check_credential`]).
    credentials: u32,
    /// The text being scanned is the operator's (a system or developer prompt): its topic words
    /// ("do not give medical, legal or financial advice", "never ask for a card number") and
    /// prices are instructions, not what a request brings, so they raise no risk; numbers and
    /// addresses in it are data and still count.
    operator_text: bool,
}

/// The word cues that raise risk.
const RISK_WORDS: u64 = MON | FIN | LEG | MED | PER;

impl Scan {
    fn hit(&mut self, mask: u64, name: &'static str, wt: f32) {
        let mut m = mask & !bit(cue::PHRASE);
        if self.operator_text {
            m &= !RISK_WORDS;
        }
        while m != 0 {
            let b = m.trailing_zeros() as usize;
            m &= m - 1;
            self.hits[b] += 1;
            self.weight[b] += wt;
            let n = self.example_n[b] as usize;
            // Names come from the table, so the same cue is the same pointer.
            if n < 3 && !self.examples[b][..n].iter().any(|e| std::ptr::eq(e.as_ptr(), name.as_ptr())) {
                self.examples[b][n] = name;
                self.example_n[b] += 1;
            }
        }
    }

    fn note_kw_lang(&mut self, lang: &'static str) {
        for slot in self.kw_langs.iter_mut() {
            if slot.0 == Some(lang) {
                slot.1 += 1;
                return;
            }
            if slot.0.is_none() {
                *slot = (Some(lang), 1);
                return;
            }
        }
    }

    /// Scans `text`, which sits at byte `base` of a turn `total` bytes long. `weight` scales every
    /// cue; with `instructions`, cues within [`INSTRUCTION_ZONE`] of either end of the turn count double.
    fn scan(&mut self, text: &str, base: usize, total: usize, weight: f32, instructions: bool) {
        let table = cues();
        self.scanned += text.len();
        let mut w = Word::default();
        let mut hist = History::default();
        let mut prev = '\n';
        let mut last_sig = ' ';
        let mut op: Option<(char, bool)> = None;
        let mut line_start = true;
        let mut indent = 0u32;
        let mut line_digit = false;
        let mut ticks = 0u32;
        let mut fence_tag = false;
        let mut tok_start = 0usize;
        let mut tok_at = false;
        let mut run = DigitRun::default();
        let mut iban_prefix = false;

        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            // Fast path: an ASCII letter while no multi-character state is pending only extends
            // the current word (most of any text).
            if b.is_ascii_alphabetic() && ticks == 0 && !line_start && !line_digit && op.is_none() && !run.active && prev != '$' {
                if w.len == 0 {
                    w.start = i;
                    w.after_backslash = prev == '\\';
                }
                // The whole run of ASCII letters at once, with the word's state in registers.
                let (mut len, mut hash, mut upper_inner) = (w.len, w.hash, w.upper_inner);
                let mut last = if len > 0 { w.buf[len.min(WORD_CAP) - 1] } else { 0 };
                let run_start = i;
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    let b = bytes[i];
                    upper_inner |= b.is_ascii_uppercase() && last.is_ascii_lowercase();
                    last = b;
                    let lower = b | 0x20;
                    if len < WORD_CAP {
                        w.buf[len] = lower;
                        hash = roll(hash, lower);
                    }
                    len += 1;
                    i += 1;
                }
                if len > WORD_CAP {
                    w.overflow = true;
                    len = WORD_CAP;
                }
                w.len = len;
                w.hash = hash;
                w.upper_inner = upper_inner;
                self.letters[SCRIPT_LATIN] += (i - run_start) as u32;
                prev = bytes[i - 1] as char;
                last_sig = prev;
                continue;
            }
            // Fast path: a space between words, with nothing pending but the word itself.
            if b == b' ' && ticks == 0 && !line_start && !line_digit && !run.active && !tok_at && prev != '$' {
                if w.len > 0 {
                    self.flush_word(
                        table,
                        &mut w,
                        &mut hist,
                        text,
                        i,
                        base,
                        total,
                        weight,
                        instructions,
                        &mut fence_tag,
                        &mut iban_prefix,
                    );
                }
                self.check_credential(&text[tok_start..i], &text.as_bytes()[i..]);
                tok_start = i + 1;
                prev = ' ';
                i += 1;
                continue;
            }
            let c = if b < 0x80 {
                b as char
            } else {
                text[i..].chars().next().unwrap_or('\u{FFFD}')
            };
            let next_i = i + c.len_utf8();
            // Words: ASCII letters and digits, `_`, Latin letters with diacritics; `'` and `-` inside.
            let c = if c == '’' { '\'' } else { c };
            let script = script_of(c);
            let wordy = c.is_ascii_alphanumeric()
                || c == '_'
                || script == Some(SCRIPT_LATIN_EXT)
                || (w.len > 0 && (c == '\'' || c == '-' || (c == '+' && matches!(w.bytes(), b"c" | b"c+"))));
            if wordy {
                if w.len == 0 {
                    w.start = i;
                    w.after_backslash = prev == '\\';
                }
                if c.is_ascii() {
                    let b = c as u8;
                    if b.is_ascii_digit() {
                        w.digits += 1;
                    } else if b.is_ascii_uppercase() && w.len > 0 && w.buf[w.len - 1].is_ascii_lowercase() {
                        w.upper_inner = true;
                    } else if b == b'_' && w.len > 0 {
                        w.underscore = true;
                    }
                    w.push_byte(b.to_ascii_lowercase());
                } else {
                    let lower = c.to_lowercase().next().unwrap_or(c);
                    let mut tmp = [0u8; 4];
                    w.push(lower.encode_utf8(&mut tmp).as_bytes());
                }
            } else if w.len > 0 {
                self.flush_word(
                    table,
                    &mut w,
                    &mut hist,
                    text,
                    i,
                    base,
                    total,
                    weight,
                    instructions,
                    &mut fence_tag,
                    &mut iban_prefix,
                );
            }

            // Letters by script.
            if let Some(s) = script {
                self.letters[s] += 1;
            }

            // Fences: three or more backticks; the word right after an opening fence is its language.
            if c == '`' {
                ticks += 1;
            } else {
                if ticks >= 3 {
                    self.fences += 1;
                    fence_tag = self.fences % 2 == 1;
                }
                ticks = 0;
            }

            // Lines: indentation and list markers.
            if c == '\n' {
                self.lines += 1;
                line_start = true;
                indent = 0;
                fence_tag = false;
                line_digit = false;
            } else if line_start {
                match c {
                    ' ' => indent += 1,
                    '\t' => indent += 4,
                    _ => {
                        line_start = false;
                        if indent >= 4 && c != '`' {
                            self.indented_lines += 1;
                        }
                        if matches!(c, '-' | '*' | '•') {
                            self.list_items += 1;
                        } else if c.is_ascii_digit() {
                            line_digit = true;
                        }
                    }
                }
            } else if line_digit {
                if c == '.' || c == ')' {
                    self.list_items += 1;
                }
                if !c.is_ascii_digit() {
                    line_digit = false;
                }
            }

            // Code punctuation, and calls (`name(` with no space).
            match (prev, c) {
                (_, '{' | '}' | ';') => self.code_syms += 1,
                (p, '(') if p.is_ascii_alphanumeric() || p == '_' => self.code_syms += 1,
                ('=', '>') | ('-', '>') | (':', ':') | ('=', '=') | ('!', '=') | ('&', '&') | ('|', '|') | ('<', '/') | ('/', '>') | ('(', ')') => {
                    self.code_syms += 1
                }
                _ => {}
            }

            // Math: symbols, operators between operands, `$` math, money amounts.
            if is_math_symbol(c) {
                self.math_syms += 1;
            }
            if !c.is_whitespace() {
                if let Some((o, spaced)) = op.take() {
                    let operand = c.is_ascii_digit() || c == '(' || (c.is_ascii_alphabetic() && o != '-' && o != '/');
                    let spacing_ok = !matches!(o, '-' | '/') || (spaced && prev == ' ');
                    if operand && spacing_ok {
                        self.math_ops += 1;
                    }
                }
                if matches!(c, '+' | '-' | '*' | '/' | '^' | '=' | '×' | '÷') && (last_sig.is_ascii_alphanumeric() || last_sig == ')') {
                    op = Some((c, prev == ' '));
                }
            }
            if prev == '$' {
                if c.is_ascii_digit() {
                    self.money_amounts += u32::from(!self.operator_text);
                } else if c.is_ascii_alphabetic() || c == '\\' {
                    self.dollar_math += 1;
                }
            } else if matches!(prev, '€' | '£' | '¥') && c.is_ascii_digit() {
                self.money_amounts += u32::from(!self.operator_text);
            }
            if c == '?' {
                self.questions += 1;
            }

            // Raw tokens (whitespace-delimited), for e-mail addresses and credentials.
            if c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')' | '[' | ']' | '"') {
                if tok_at {
                    self.check_email(&text[tok_start..i]);
                }
                self.check_credential(&text[tok_start..i], &text.as_bytes()[i..]);
                tok_start = i + c.len_utf8();
                tok_at = false;
            } else if c == '@' {
                tok_at = true;
            }

            // Digit runs.
            if c.is_ascii_digit() {
                run.digit(c as u8 - b'0', prev == '+');
            } else if run.active {
                let goes_on = matches!(c, ' ' | '-' | '.' | '(' | ')' | '/') && run.sep(c);
                if !goes_on {
                    self.end_digit_run(&run, iban_prefix);
                    run.active = false;
                    iban_prefix = false;
                }
            }

            prev = c;
            if !c.is_whitespace() {
                last_sig = c;
            }
            i = next_i;
        }
        if w.len > 0 {
            self.flush_word(
                table,
                &mut w,
                &mut hist,
                text,
                text.len(),
                base,
                total,
                weight,
                instructions,
                &mut fence_tag,
                &mut iban_prefix,
            );
        }
        if ticks >= 3 {
            self.fences += 1;
        }
        if tok_at {
            self.check_email(&text[tok_start..]);
        }
        self.check_credential(&text[tok_start..], b"");
        if run.active {
            self.end_digit_run(&run, iban_prefix);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn flush_word(
        &mut self,
        table: &CueTable,
        w: &mut Word,
        hist: &mut History,
        text: &str,
        end: usize,
        base: usize,
        total: usize,
        weight: f32,
        instructions: bool,
        fence_tag: &mut bool,
        iban_prefix: &mut bool,
    ) {
        if w.len > 0 && matches!(w.buf[w.len - 1], b'\'' | b'-') {
            while w.len > 0 && matches!(w.buf[w.len - 1], b'\'' | b'-') {
                w.len -= 1;
            }
            w.hash = hash_bytes(w.bytes());
        }
        if w.len == 0 {
            *w = Word::default();
            return;
        }
        self.words += 1;
        let pos = base + w.start;
        // In the last user turn, instructions sit at either end and the material in between:
        // cues at the ends count double, cues in the middle of a long turn count less, and
        // greetings count only at the ends (a story quoting "hello" is not small talk).
        let in_zone = pos < INSTRUCTION_ZONE || pos + INSTRUCTION_ZONE >= total;
        let wt = match (instructions, in_zone) {
            (true, true) => weight * 2.0,
            (true, false) => weight * 0.7,
            (false, _) => weight,
        };
        let keep = if instructions && in_zone { u64::MAX } else { !CHT };
        let mut phrase_start = false;
        if w.digits as usize == w.len {
            self.numbers += 1;
            self.max_digits = self.max_digits.max(w.digits);
        } else if !w.overflow {
            let key = w.bytes();
            if w.after_backslash && is_latex_command(key) {
                self.latex += 1;
            }
            if *fence_tag {
                if let Some(lang) = fence_language(key) {
                    self.fence_lang.get_or_insert(lang);
                }
                *fence_tag = false;
            }
            if let Some((name, mask)) = table.get(w.hash, key) {
                self.hit(mask & keep, name, wt);
                phrase_start = mask & bit(cue::PHRASE) != 0;
                if mask & CKW != 0 {
                    if let Some(lang) = keyword_language(key) {
                        self.note_kw_lang(lang);
                    }
                }
            }
            if hist.w1_phrase {
                if let Some((name, mask)) = table.get_joined(&[&hist.w1[..hist.w1_len], key]) {
                    self.hit(mask & keep, name, wt);
                }
            }
            if hist.w2_phrase {
                if let Some((name, mask)) = table.get_joined(&[&hist.w2[..hist.w2_len], &hist.w1[..hist.w1_len], key]) {
                    self.hit(mask & keep, name, wt);
                }
            }
            if (w.underscore || w.upper_inner) && w.digits < w.len as u32 {
                self.code_idents += 1;
            }
            // IBAN: two capitals, two digits, then letters and digits, written as one word...
            let orig = &text.as_bytes()[w.start..end.min(text.len())];
            let iban_head = orig.len() >= 4 && orig[..2].iter().all(u8::is_ascii_uppercase) && orig[2..4].iter().all(u8::is_ascii_digit);
            if iban_head && (15..=34).contains(&orig.len()) && orig.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
                self.ibans += 1;
            }
            // ...or in groups of four: the first group marks the digit run that follows.
            *iban_prefix = iban_head && orig.len() == 4;
        }
        // Only phrase starts and the word after one are ever looked up again.
        if hist.w1_phrase || phrase_start {
            hist.w2 = hist.w1;
            hist.w2_len = hist.w1_len;
            let n = w.len.min(WORD_CAP);
            hist.w1[..n].copy_from_slice(&w.buf[..n]);
            hist.w1_len = n;
        }
        hist.w2_phrase = hist.w1_phrase;
        hist.w1_phrase = phrase_start;
        w.reset();
    }

    /// A credential in a format its issuer gives it (OpenAI's and Anthropic's `sk-`, Stripe's
    /// `sk_live_`, GitHub's `ghp_`, Slack's `xoxb-`, GitLab's `glpat-`, Google's `AIza`, AWS's
    /// `AKIA` key ids), alone or as a `NAME=value` line, or the head of a PEM private key
    /// (`-----BEGIN RSA PRIVATE KEY-----`, whose words the token ends before: `after` is the text
    /// that follows it). Only tokens long enough to be one are looked at.
    fn check_credential(&mut self, tok: &str, after: &[u8]) {
        if tok == "-----BEGIN" {
            let window = &after[..after.len().min(32)];
            if window.windows(16).any(|w| w == b"PRIVATE KEY-----") {
                self.credentials += 1;
            }
            return;
        }
        if tok.len() < 20 {
            return;
        }
        let tok = tok.trim_matches(|c| matches!(c, '\'' | '`' | '.' | ':'));
        let value = tok.rsplit(['=', ':']).next().unwrap_or(tok);
        let keyed = |prefix: &str, least: usize| {
            value.strip_prefix(prefix).is_some_and(|rest| rest.len() >= least && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        };
        let aws_key_id = value.len() == 20 && (value.starts_with("AKIA") || value.starts_with("ASIA")) && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if aws_key_id
            || [("sk-", 20), ("sk_live_", 16), ("rk_live_", 16), ("ghp_", 30), ("gho_", 30), ("github_pat_", 30), ("xoxb-", 20), ("xoxp-", 20), ("glpat-", 20), ("AIza", 30)]
                .iter()
                .any(|&(prefix, least)| keyed(prefix, least))
        {
            self.credentials += 1;
        }
    }

    fn check_email(&mut self, tok: &str) {
        let tok = tok.trim_end_matches(['.', ':', '!', '?']);
        if let Some((user, domain)) = tok.split_once('@') {
            let valid_user = !user.is_empty() && user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
            let valid_domain = domain.contains('.')
                && !domain.starts_with('.')
                && domain.bytes().all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
                && domain
                    .rsplit('.')
                    .next()
                    .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
            if valid_user && valid_domain {
                self.emails += 1;
            }
        }
    }

    fn end_digit_run(&mut self, run: &DigitRun, iban_prefix: bool) {
        let n = run.n;
        let groups = &run.groups[..run.g.min(run.groups.len())];
        if iban_prefix && (10..=30).contains(&n) {
            self.ibans += 1;
            return;
        }
        if n == 9 && groups == [3, 2, 4] && run.dash && !run.space && !run.other_sep {
            self.ssns += 1;
            return;
        }
        let card_grouping = |groups: &[u8]| groups.len() == 1 || groups[..groups.len() - 1].iter().all(|&g| g == 4) || groups == [4, 6, 5];
        if (13..=19).contains(&n) && n <= run.digits.len() && card_network_digit(run.digits[0]) && card_grouping(groups) && !run.other_sep && luhn(&run.digits[..n]) {
            self.cards += 1;
            return;
        }
        // A card number pasted with its expiry and security code after it ("4111 1111 1111 1111
        // 12/29 123"), which the run took in: its leading groups are the card, and what follows
        // is shaped as an expiry (MM YY, MM YYYY) and a code, or a code alone. A row of years
        // ("2015 2016 2017 2018 2019") or an id and a count are not.
        if n > 13 && n <= run.digits.len() && card_network_digit(run.digits[0]) {
            let mut card_digits = 0;
            for (k, &g) in groups.iter().enumerate().take(groups.len().saturating_sub(1)) {
                card_digits += usize::from(g);
                if card_digits > 19 {
                    break;
                }
                let tail = &groups[k + 1..];
                // MMYY written without a slash is a month first; a year is not.
                let month_first = |at: usize| (1..=12).contains(&(run.digits[at] * 10 + run.digits[at + 1]));
                let expiry_and_code = match tail {
                    [3] | [2, 2] | [2, 4] | [2, 2, 3] | [2, 2, 4] | [2, 4, 3] | [2, 4, 4] => true,
                    // Amex's four-digit code, or an expiry as MMYY.
                    [4] => groups[..=k] == [4, 6, 5] || month_first(card_digits),
                    [4, 3] | [4, 4] => month_first(card_digits),
                    _ => false,
                };
                if (13..=19).contains(&card_digits) && expiry_and_code && card_grouping(&groups[..=k]) && luhn(&run.digits[..card_digits]) {
                    self.cards += 1;
                    return;
                }
            }
        }
        let phone_groups = groups.len() >= 2 && groups.len() <= 5 && groups.iter().skip(usize::from(run.plus)).all(|&g| g >= 2);
        // A log line's timestamp ("2024-01-15 10:23:45", "15.01.2024 10:23") is a date, and
        // four dotted groups of up to three digits an IPv4 address, not a phone number.
        let dated = !run.plus && ((run.dash && groups.len() >= 3 && groups[..3] == [4, 2, 2]) || (run.dot && groups.len() >= 3 && groups[..3] == [2, 2, 4]));
        let ipv4 = run.dot && !run.dash && !run.space && groups.len() == 4 && groups.iter().all(|&g| g <= 3);
        if ((10..=15).contains(&n) && (run.plus || phone_groups) && !dated && !ipv4) || (n == 7 && groups == [3, 4] && run.dash) {
            self.phones += 1;
        }
    }

    fn letters_total(&self) -> u32 {
        self.letters.iter().sum()
    }
}

fn joined_eq(key: &[u8], parts: &[&[u8]]) -> bool {
    let mut rest = key;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            match rest.split_first() {
                Some((b' ', r)) => rest = r,
                _ => return false,
            }
        }
        match rest.strip_prefix(*p) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The text parts of a message, borrowed.
fn text_parts(m: &Message) -> Vec<&str> {
    match &m.content {
        Some(Content::Text(t)) => vec![t.as_str()],
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text, .. } => Some(text.as_str()),
                ContentPart::Refusal { refusal, .. } => Some(refusal.as_str()),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    }
}

/// Scans a turn made of `parts`: all of it if it fits `head + tail`, else its first `head` and
/// last `tail` bytes. Returns whether text was skipped.
fn scan_turn(scan: &mut Scan, parts: &[&str], head: usize, tail: usize, weight: f32, instructions: bool) -> bool {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= head + tail {
        let mut offset = 0;
        for p in parts {
            scan.scan(p, offset, total, weight, instructions);
            offset += p.len();
        }
        return false;
    }
    let mut remaining = head;
    let mut offset = 0;
    for p in parts {
        if remaining == 0 {
            break;
        }
        let take = floor_boundary(p, remaining.min(p.len()));
        scan.scan(&p[..take], offset, total, weight, instructions);
        remaining -= take.min(remaining);
        if take < p.len() {
            break;
        }
        offset += p.len();
    }
    let mut remaining = tail;
    let mut end = total;
    for p in parts.iter().rev() {
        if remaining == 0 {
            break;
        }
        let start_in_part = ceil_boundary(p, p.len().saturating_sub(remaining));
        let part_base = end - p.len();
        if part_base + start_in_part >= head {
            scan.scan(&p[start_in_part..], part_base + start_in_part, total, weight, instructions);
        }
        remaining -= (p.len() - start_in_part).min(remaining);
        end = part_base;
        if start_in_part > 0 {
            break;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Tools

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ToolAccess {
    Read,
    Write,
    /// Moves money, deletes, sends to someone, or runs commands: cannot be taken back.
    Irreversible,
}

fn tool_verb(w: &str) -> Option<(ToolAccess, &'static str)> {
    use ToolAccess::*;
    Some(match w {
        "delete" | "deletes" | "remove" | "removes" | "rm" | "rmdir" | "drop" | "drops" | "destroy" | "erase" | "purge" | "wipe" | "truncate" | "unlink" => {
            (Irreversible, "deletes")
        }
        "transfer" | "transfers" | "pay" | "pays" | "payment" | "wire" | "withdraw" | "refund" | "refunds" | "charge" | "charges" | "purchase"
        | "purchases" | "buy" | "buys" | "sell" | "sells" | "checkout" | "order" | "orders" | "book" | "books" | "reserve" | "invest" | "trade" | "donate" => {
            (Irreversible, "moves money")
        }
        "send" | "sends" | "email" | "sms" | "text" | "tweet" | "post" | "posts" | "publish" | "publishes" | "message" | "notify" | "broadcast" | "share" => {
            (Irreversible, "sends")
        }
        "execute" | "executes" | "exec" | "run" | "runs" | "shell" | "bash" | "eval" | "sudo" | "deploy" | "deploys" | "kill" | "terminate" | "shutdown"
        | "reboot" | "restart" | "command" | "terminal" | "install" => (Irreversible, "executes"),
        "write" | "writes" | "update" | "updates" | "create" | "creates" | "edit" | "edits" | "modify" | "modifies" | "set" | "sets" | "add" | "adds"
        | "insert" | "inserts" | "upload" | "uploads" | "schedule" | "cancel" | "cancels" | "submit" | "submits" | "save" | "saves" | "move" | "moves"
        | "mv" | "cp" | "copy" | "mkdir" | "touch" | "rename" | "change" | "changes" | "assign" | "approve" | "register" | "enroll" | "apply" | "put"
        | "patch" | "upsert" | "store" | "log" | "record" | "mark" | "close" | "open" | "lock" | "unlock" | "start" | "stop" | "turn" | "enable"
        | "disable" | "adjust" | "control" | "activate" | "fill" | "echo" => (Write, "writes"),
        "get" | "gets" | "list" | "lists" | "search" | "searches" | "find" | "finds" | "read" | "reads" | "fetch" | "fetches" | "query" | "lookup"
        | "retrieve" | "retrieves" | "check" | "calculate" | "calculates" | "compute" | "computes" | "convert" | "estimate" | "count" | "view" | "show"
        | "describe" | "ls" | "cat" | "grep" | "pwd" | "cd" | "diff" | "sort" | "wc" | "tail" | "head" | "display" | "analyze" | "predict" | "recommend"
        | "translate" | "validate" | "verify" | "track" | "tracks" => (Read, "reads"),
        _ => return None,
    })
}

/// What a tool whose name starts with a writing verb makes, when that moves money
/// (`create_refund`, `createPayment`, `submit_order`, `update_bank_account`): the verb alone
/// would read as an ordinary write.
const MONEY_NOUNS: &[&str] = &[
    "refund", "refunds", "payment", "payments", "transfer", "transfers", "charge", "charges", "order", "orders", "purchase", "purchases", "payout",
    "payouts", "withdrawal", "withdrawals", "wire", "bank",
];

/// Words that end the object of a tool name's verb (`add_note_to_order`, `refund_with_note`).
const FUNCTION_WORDS: &[&str] = &["with", "and", "to", "of", "for", "plus", "by", "from", "in", "on", "into", "via"];

/// What a tool whose name starts with a noun that is also a verb (`order_history`,
/// `order_status`, `booking_details`) reads about it.
const RECORD_NOUNS: &[&str] = &["history", "status", "details", "detail", "info", "summary", "lookup", "list", "note", "notes", "comment", "comments", "tag", "tags"];

/// Words that are verbs in a tool's name (`place_order`, `post_tweet`) but usually nouns or
/// idioms in prose ("in order to", "a text message").
const DESCRIPTION_AMBIGUOUS: &[&str] = &[
    "order", "orders", "book", "books", "text", "post", "posts", "message", "share", "log", "record", "mark", "open", "close", "start", "stop", "turn", "set",
    "sets", "change", "changes", "control", "apply", "check", "run", "runs", "trade",
];

/// Splits an identifier (`transfer_funds`, `deleteFile`, `Bank.Transfer`) into lowercase words.
fn identifier_words(name: &str, mut each: impl FnMut(&str)) {
    let mut word = String::with_capacity(16);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !word.is_empty() {
                each(&word);
                word.clear();
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            word.extend(c.to_lowercase());
        } else {
            if !word.is_empty() {
                each(&word);
                word.clear();
            }
            prev_lower = false;
        }
    }
    if !word.is_empty() {
        each(&word);
    }
}

struct ToolRisk {
    access: ToolAccess,
    tool: String,
    what: &'static str,
}

/// The most dangerous access any tool offers, judged from its name, then its description's first words.
fn tool_risk(req: &ChatRequest) -> Option<ToolRisk> {
    let none = |choice: Option<&serde_json::Value>| matches!(choice, Some(serde_json::Value::String(s)) if s == "none");
    let tools = req.tools.iter().flatten().filter(|_| !none(req.tool_choice.as_ref())).map(|t| t.name_and_description());
    // Legacy `functions` (with `function_call`) are tools too: a model may call them alike.
    let functions = req.extra.get("functions").and_then(serde_json::Value::as_array).into_iter().flatten().filter(|_| !none(req.extra.get("function_call"))).filter_map(|f| {
        let name = f.get("name")?.as_str()?;
        Some((name, f.get("description").and_then(serde_json::Value::as_str)))
    });
    let mut worst: Option<ToolRisk> = None;
    for (name, description) in tools.chain(functions).take(MAX_TOOLS_SCANNED) {
        // The name's first verb decides (`get_tweet` reads, `add_contact` writes, `transfer_funds`
        // moves money), but for the nouns after it (below); a name without a verb falls back on the first verb of the description's first
        // sentence ("Sends an SMS to ..."), where later words are about parameters.
        let mut best: Option<(ToolAccess, &'static str)> = None;
        // The words after the verb, up to a function word or another verb, name what it acts on:
        // a payment there makes a write move money (`create_refund`), a record there makes it
        // about one (`order_history`, `update_order_status`, `add_note_to_order`), and what
        // comes after (`refund_with_note`, `charge_card_add_note`) changes neither.
        let (mut payment, mut record, mut in_object) = (false, false, true);
        identifier_words(name, |w| {
            if best.is_none() {
                best = tool_verb(w);
                return;
            }
            let another_verb = tool_verb(w).is_some() && !MONEY_NOUNS.contains(&w) && !DESCRIPTION_AMBIGUOUS.contains(&w);
            if FUNCTION_WORDS.contains(&w) || another_verb {
                in_object = false;
            } else if in_object {
                payment |= MONEY_NOUNS.contains(&w);
                record |= RECORD_NOUNS.contains(&w);
            }
        });
        match best {
            Some((ToolAccess::Write, _)) if payment && !record => best = Some((ToolAccess::Irreversible, "moves money")),
            Some((ToolAccess::Irreversible, "moves money")) if record => best = Some((ToolAccess::Read, "reads")),
            _ => {}
        }
        if best.is_none() {
            if let Some(d) = description {
                let d = &d[..floor_boundary(d, TOOL_DESCRIPTION_CAP)];
                let first = d.split(['.', '\n']).next().unwrap_or("");
                let mut words = 0;
                identifier_words(first, |w| {
                    words += 1;
                    if best.is_none() && words <= 12 && !DESCRIPTION_AMBIGUOUS.contains(&w) {
                        best = tool_verb(w);
                    }
                });
            }
        }
        let (access, what) = best.unwrap_or((ToolAccess::Read, "reads"));
        if worst.as_ref().is_none_or(|w| access > w.access) {
            worst = Some(ToolRisk {
                access,
                tool: name.to_string(),
                what,
            });
        }
    }
    worst
}

// ---------------------------------------------------------------------------------------------
// Classification

/// Short CJK keyword checks for prompts written in Chinese or Japanese, where words have no spaces.
#[rustfmt::skip]
const CJK_CUES: &[(&str, u32)] = &[
    ("翻译", cue::TRANSLATE), ("翻譯", cue::TRANSLATE), ("翻訳", cue::TRANSLATE), ("译成", cue::TRANSLATE),
    ("总结", cue::SUMMARIZE), ("摘要", cue::SUMMARIZE), ("概括", cue::SUMMARIZE), ("要約", cue::SUMMARIZE),
    ("代码", cue::CODE), ("程序", cue::CODE), ("函数", cue::CODE), ("コード", cue::CODE),
    ("小说", cue::CREATIVE), ("故事", cue::CREATIVE), ("诗", cue::CREATIVE), ("剧本", cue::CREATIVE),
    ("歌词", cue::CREATIVE), ("散文", cue::CREATIVE), ("小説", cue::CREATIVE), ("物語", cue::CREATIVE),
    ("证明", cue::MATH), ("方程", cue::MATH), ("计算", cue::MATH), ("計算", cue::MATH),
    ("分析", cue::REASON), ("比较", cue::REASON), ("为什么", cue::REASON),
    ("分类", cue::CLASSIFY), ("提取", cue::EXTRACT), ("抽取", cue::EXTRACT),
    ("改写", cue::REWRITE), ("润色", cue::REWRITE), ("修改", cue::REWRITE),
    ("合同", cue::LEGAL), ("法律", cue::LEGAL), ("诉讼", cue::LEGAL), ("医疗", cue::MEDICAL), ("患者", cue::MEDICAL),
    ("转账", cue::MONEY), ("付款", cue::MONEY), ("投资", cue::MONEY),
];
const CJK_CUE_SPAN: usize = 4096;
const _: () = assert!(CJK_CUES.len() <= 64, "cjk_cues keeps a u64 of the cues found");

fn cjk_cues(scan: &mut Scan, text: &str) {
    let text = &text.as_bytes()[..floor_boundary(text, CJK_CUE_SPAN)];
    // One pass over the span, trying the cues only where a CJK character (3-byte UTF-8, lead byte
    // 0xE3..=0xE9) starts: a `contains` per cue would rescan the span forty times.
    let mut found = 0u64;
    for (i, &b) in text.iter().enumerate() {
        if !(0xE3..=0xE9).contains(&b) {
            continue;
        }
        for (k, &(pat, _)) in CJK_CUES.iter().enumerate() {
            if found & (1 << k) == 0 && text[i..].starts_with(pat.as_bytes()) {
                found |= 1 << k;
            }
        }
    }
    for (k, &(pat, c)) in CJK_CUES.iter().enumerate() {
        if found & (1 << k) != 0 {
            scan.hit(bit(c), pat, 2.0);
        }
    }
}

fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// Classifies a chat request: task class, difficulty in [0, 1] and risk tier, each with its reason.
/// Deterministic, allocation-light, and bounded in cost by the scan caps above. `tenant`: whose
/// request it is, for the token counts of its long texts seen before (`tokens::prompt_tokens`).
pub fn classify(req: &ChatRequest, tenant: Option<&str>) -> Classification {
    let prompt = crate::tokens::prompt_tokens(req, tenant);
    let mut f = Features {
        // Exact for OpenAI-encoded models, estimated for others (see `crate::tokens::prompt_tokens`).
        prompt_tokens: prompt.count,
        prompt_tokens_exact: prompt.exact,
        system_prompt_tokens: prompt.system,
        messages: req.messages.len(),
        max_output_tokens: req.max_completion_tokens.or(req.max_tokens),
        model: req.model.clone(),
        tools: req.tools.as_ref().map_or(0, Vec::len),
        ..Features::default()
    };
    f.has_tools = f.tools > 0;
    match &req.response_format {
        Some(ResponseFormat::JsonObject { .. }) => f.wants_json = true,
        Some(ResponseFormat::JsonSchema { .. }) => {
            f.wants_json = true;
            f.has_schema = true;
        }
        _ => {}
    }
    if matches!(req.extra.get("functions"), Some(serde_json::Value::Array(a)) if !a.is_empty()) {
        f.has_tools = true;
    }

    // Which message is the last user turn, and which are context.
    let last_user = req.messages.iter().rposition(|m| m.role == Role::User);
    let mut scan = Scan::default();
    let mut system_chars = 0u64;
    let mut system_left = SYSTEM_CAP;
    let mut earlier_scanned = 0usize;
    for (i, m) in req.messages.iter().enumerate().rev() {
        if m.content.as_ref().is_some_and(Content::has_image) {
            f.has_images = true;
        }
        match m.role {
            Role::User => f.user_turns += 1,
            Role::Tool | Role::Function => f.has_tool_results = true,
            Role::Assistant if m.tool_calls.as_ref().is_some_and(|c| !c.is_empty()) || m.extra.contains_key("function_call") => {
                f.has_tool_results = true;
            }
            _ => {}
        }
        let parts = text_parts(m);
        if parts.is_empty() {
            continue;
        }
        if Some(i) == last_user {
            f.truncated |= scan_turn(&mut scan, &parts, LAST_TURN_HEAD, LAST_TURN_TAIL, 1.0, true);
            let cjk = scan.letters[SCRIPT_HAN] + scan.letters[SCRIPT_KANA] + scan.letters[SCRIPT_HANGUL];
            if let (Some(first), true) = (parts.first(), cjk > 0) {
                cjk_cues(&mut scan, first);
            }
        } else if matches!(m.role, Role::System | Role::Developer) {
            system_chars += parts.iter().map(|p| p.chars().count() as u64).sum::<u64>();
            let bytes: usize = parts.iter().map(|p| p.len()).sum();
            scan.operator_text = true;
            f.truncated |= scan_turn(&mut scan, &parts, system_left, 0, 1.0, false);
            scan.operator_text = false;
            system_left = system_left.saturating_sub(bytes);
        } else if earlier_scanned < EARLIER_TURNS {
            earlier_scanned += 1;
            f.truncated |= scan_turn(&mut scan, &parts, 0, EARLIER_CAP, 0.5, false);
        } else {
            f.truncated = true;
        }
    }
    f.system_tokens = system_chars.div_ceil(4);
    f.scanned_bytes = scan.scanned;

    fill_features(&mut f, &scan);
    let (task, task_reason) = decide_task(&f, &scan);
    let (difficulty, difficulty_reason) = decide_difficulty(&f, &scan, task);
    let (risk, risk_reason) = decide_risk(req, &scan);
    Classification {
        task,
        task_reason,
        difficulty,
        difficulty_reason,
        risk,
        risk_reason,
        features: f,
    }
}

fn fill_features(f: &mut Features, s: &Scan) {
    f.code_blocks = s.fences.div_ceil(2);
    f.code_language = s.fence_lang.or_else(|| {
        s.kw_langs
            .iter()
            .filter(|(l, n)| l.is_some() && *n >= 2)
            .max_by_key(|(_, n)| *n)
            .and_then(|(l, _)| *l)
    });
    f.code_signals = s.code_syms + s.hits[cue::CODE_KW as usize] + s.indented_lines + s.code_idents + s.hits[cue::CODE as usize] + 4 * f.code_blocks;
    f.math_signals = s.latex + s.math_syms + s.math_ops + s.dollar_math + s.hits[cue::MATH as usize] + s.hits[cue::MATH_WORD as usize];
    f.max_digits = s.max_digits;
    f.constraint_cues = s.hits[cue::CONSTRAINT as usize];
    f.reasoning_cues = s.hits[cue::REASON as usize] + s.hits[cue::HARD as usize];
    f.list_items = s.list_items;
    for (n, kind) in [(s.emails, "email"), (s.phones, "phone"), (s.ssns, "ssn"), (s.cards, "card"), (s.ibans, "iban")] {
        if n > 0 {
            f.personal_data.push(kind);
        }
    }
    let (language, non_english) = guess_language(s);
    f.language = language;
    f.non_english = non_english;
}

fn guess_language(s: &Scan) -> (&'static str, bool) {
    let total = s.letters_total();
    if total == 0 {
        return ("unknown", false);
    }
    let latin = s.letters[SCRIPT_LATIN] + s.letters[SCRIPT_LATIN_EXT];
    let scripts: [(usize, &'static str); 11] = [
        (SCRIPT_HAN, "zh"),
        (SCRIPT_KANA, "ja"),
        (SCRIPT_HANGUL, "ko"),
        (SCRIPT_CYRILLIC, "ru"),
        (SCRIPT_ARABIC, "ar"),
        (SCRIPT_HEBREW, "he"),
        (SCRIPT_DEVANAGARI, "hi"),
        (SCRIPT_INDIC, "other"),
        (SCRIPT_GREEK, "el"),
        (SCRIPT_THAI, "th"),
        (SCRIPT_OTHER, "other"),
    ];
    // CJK characters carry about a word each; Latin letters about a fifth of one.
    let weight = |idx: usize, n: u32| -> f64 {
        if matches!(idx, SCRIPT_HAN | SCRIPT_KANA | SCRIPT_HANGUL) {
            f64::from(n) * 3.0
        } else {
            f64::from(n)
        }
    };
    let (best_idx, best_lang) = scripts
        .iter()
        .copied()
        .max_by(|a, b| weight(a.0, s.letters[a.0]).total_cmp(&weight(b.0, s.letters[b.0])))
        .unwrap();
    let mut other_letters = weight(best_idx, s.letters[best_idx]);
    // Kana with Han is Japanese.
    let lang_script = if best_idx == SCRIPT_HAN && s.letters[SCRIPT_KANA] * 5 > s.letters[SCRIPT_HAN] {
        other_letters = weight(SCRIPT_HAN, s.letters[SCRIPT_HAN]) + weight(SCRIPT_KANA, s.letters[SCRIPT_KANA]);
        "ja"
    } else {
        best_lang
    };
    let script_share = other_letters / (other_letters + f64::from(latin));
    let en = f64::from(s.hits[cue::STOP_EN as usize]);
    let stops: [(u32, &'static str); 7] = [
        (cue::STOP_DE, "de"),
        (cue::STOP_FR, "fr"),
        (cue::STOP_ES, "es"),
        (cue::STOP_IT, "it"),
        (cue::STOP_PT, "pt"),
        (cue::STOP_NL, "nl"),
        (cue::STOP_PL, "pl"),
    ];
    let (stop_cue, stop_lang) = stops.iter().copied().max_by_key(|(c, _)| s.hits[*c as usize]).unwrap();
    let other_stops = f64::from(s.hits[stop_cue as usize]);
    let stop_share = if en + other_stops > 0.0 { other_stops / (en + other_stops) } else { 0.0 };
    let latin_share = 1.0 - script_share;
    // Non-English when a meaningful part is: an English instruction around a foreign text counts,
    // since the model must read that text.
    let non_english = (script_share >= 0.15 && other_letters >= 15.0)
        || (stop_share >= 0.2 && other_stops >= 2.0)
        || (s.letters[SCRIPT_LATIN_EXT] >= 2 && other_stops >= 1.0)
        || (latin == 0 && other_letters > 0.0);
    let language = if script_share > 0.5 {
        lang_script
    } else if other_stops >= 2.0 && other_stops > en * 1.2 {
        stop_lang
    } else if latin_share > 0.0 && (en > 0.0 || other_stops == 0.0) {
        "en"
    } else {
        lang_script
    };
    (language, non_english)
}

fn examples(s: &Scan, c: u32) -> String {
    let n = s.example_n[c as usize] as usize;
    s.examples[c as usize][..n].join(", ")
}

fn decide_task(f: &Features, s: &Scan) -> (TaskClass, String) {
    if f.has_tools || f.has_tool_results {
        let mut why = Vec::new();
        if f.tools > 0 {
            why.push(format!("{} tool{} offered", f.tools, if f.tools == 1 { "" } else { "s" }));
        } else if f.has_tools {
            why.push("functions offered".to_string());
        }
        if f.has_tool_results {
            why.push("tool calls/results in the conversation".to_string());
        }
        return (TaskClass::AgenticToolUse, format!("agentic_tool_use: {}", why.join(", ")));
    }
    let wgt = |c: u32| f64::from(s.weight[c as usize]);
    let hits = |c: u32| f64::from(s.hits[c as usize]);
    let mut score = [0f64; 11];
    let idx = |t: TaskClass| TaskClass::ALL.iter().position(|&x| x == t).unwrap();

    // Code: fences dominate; keywords and punctuation only count together.
    let code_kw = hits(cue::CODE_KW).min(20.0);
    let syms = f64::from(s.code_syms).min(40.0);
    let mut code = 1.6 * wgt(cue::CODE) + 4.0 * f64::from(f.code_blocks.min(3));
    if syms >= 3.0 || f.code_blocks > 0 || s.indented_lines >= 2 {
        code += 0.3 * code_kw + 0.1 * syms + 0.3 * f64::from(s.indented_lines.min(10)) + 0.2 * f64::from(s.code_idents.min(10));
    }
    score[idx(TaskClass::Code)] = code;

    // Math: notation and arithmetic between numbers; word problems through math words plus numbers.
    let numbers = f64::from(s.numbers.min(20));
    let mut math = 1.5 * wgt(cue::MATH) + 1.5 * f64::from(s.latex.min(10)) + 1.0 * f64::from(s.math_syms.min(10)) + f64::from(s.dollar_math.min(6));
    math += 1.2 * f64::from(s.math_ops.min(10));
    if numbers > 0.0 {
        math += 1.2 * wgt(cue::MATH_WORD) + 0.15 * numbers;
    }
    score[idx(TaskClass::Math)] = math;

    score[idx(TaskClass::Classification)] = 2.0 * wgt(cue::CLASSIFY);
    score[idx(TaskClass::Extraction)] = 1.6 * wgt(cue::EXTRACT)
        + if f.has_schema {
            3.0
        } else if f.wants_json {
            2.0
        } else {
            0.0
        };
    score[idx(TaskClass::Summarization)] = 3.0 * wgt(cue::SUMMARIZE);
    score[idx(TaskClass::Rewrite)] = 2.2 * wgt(cue::REWRITE);
    let mut translate = 3.5 * wgt(cue::TRANSLATE);
    if translate > 0.0 {
        translate += 0.8 * wgt(cue::LANG_NAME).min(6.0);
    }
    score[idx(TaskClass::Translation)] = translate;
    score[idx(TaskClass::Reasoning)] = 1.5 * wgt(cue::REASON) + 0.5 * wgt(cue::HARD);
    // Creative nouns (story, joke, poem) also appear in prompts that analyse or label such
    // texts: they count fully only with a verb that asks for new text.
    let mut creative = 2.2 * wgt(cue::CREATIVE);
    if hits(cue::WRITE) > 0.0 {
        creative += 1.0 * wgt(cue::WRITE).min(4.0);
    } else {
        creative *= 0.5;
    }
    score[idx(TaskClass::Creative)] = creative;
    // Chat: greetings, plus a floor so a prompt with no cue at all is chat.
    score[idx(TaskClass::Chat)] = 1.5 * wgt(cue::CHAT).min(6.0) + 1.2;

    let (best, &best_score) = score.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
    let task = TaskClass::ALL[best];
    let runner_up = score
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, &v)| (TaskClass::ALL[i], v));

    let mut why: Vec<String> = Vec::new();
    let cue_words = |c: u32| {
        let e = examples(s, c);
        if e.is_empty() {
            None
        } else {
            Some(e)
        }
    };
    match task {
        TaskClass::Code => {
            if f.code_blocks > 0 {
                why.push(format!("{} fenced block{}", f.code_blocks, if f.code_blocks == 1 { "" } else { "s" }));
            }
            if let Some(lang) = f.code_language {
                why.push(format!("{lang} keywords"));
            }
            if s.code_syms >= 3 {
                why.push(format!("{} code symbols", s.code_syms));
            }
            if let Some(e) = cue_words(cue::CODE) {
                why.push(format!("cues: {e}"));
            }
        }
        TaskClass::Math => {
            if s.latex > 0 {
                why.push(format!("{} LaTeX command{}", s.latex, if s.latex == 1 { "" } else { "s" }));
            }
            if s.math_ops > 0 {
                why.push(format!("{} operator{} between numbers", s.math_ops, if s.math_ops == 1 { "" } else { "s" }));
            }
            if s.math_syms > 0 {
                why.push(format!("{} math symbols", s.math_syms));
            }
            if let Some(e) = cue_words(cue::MATH) {
                why.push(format!("cues: {e}"));
            }
            if numbers > 0.0 {
                if let Some(e) = cue_words(cue::MATH_WORD) {
                    why.push(format!("word problem ({e} with numbers)"));
                }
            }
        }
        TaskClass::Chat => match cue_words(cue::CHAT) {
            Some(e) => why.push(format!("conversational cues: {e}")),
            None => why.push("no task cue stronger than plain conversation".to_string()),
        },
        TaskClass::Translation => {
            if let Some(e) = cue_words(cue::TRANSLATE) {
                why.push(format!("cues: {e}"));
            }
            if let Some(e) = cue_words(cue::LANG_NAME) {
                why.push(format!("languages named: {e}"));
            }
        }
        TaskClass::Creative => {
            if let Some(e) = cue_words(cue::CREATIVE) {
                why.push(format!("cues: {e}"));
            }
            if let Some(e) = cue_words(cue::WRITE) {
                why.push(format!("verbs: {e}"));
            }
        }
        TaskClass::Extraction => {
            if let Some(e) = cue_words(cue::EXTRACT) {
                why.push(format!("cues: {e}"));
            }
            if f.has_schema {
                why.push("JSON schema requested".to_string());
            } else if f.wants_json {
                why.push("JSON output requested".to_string());
            }
        }
        TaskClass::Classification => why.extend(cue_words(cue::CLASSIFY).map(|e| format!("cues: {e}"))),
        TaskClass::Summarization => why.extend(cue_words(cue::SUMMARIZE).map(|e| format!("cues: {e}"))),
        TaskClass::Rewrite => why.extend(cue_words(cue::REWRITE).map(|e| format!("cues: {e}"))),
        TaskClass::Reasoning => {
            why.extend(cue_words(cue::REASON).map(|e| format!("cues: {e}")));
            why.extend(cue_words(cue::HARD).map(|e| format!("depth: {e}")));
        }
        TaskClass::AgenticToolUse => {}
    }
    if why.is_empty() {
        why.push("weak cues".to_string());
    }
    let mut reason = format!("{}: {}", task.as_str(), why.join(", "));
    if let Some((other, v)) = runner_up {
        if v > 0.0 && v >= best_score * 0.75 && other != TaskClass::Chat {
            reason.push_str(&format!(" (close to {})", other.as_str()));
        }
    }
    if f.non_english {
        reason.push_str(&format!("; language {}", f.language));
    }
    (task, reason)
}

fn decide_difficulty(f: &Features, s: &Scan, task: TaskClass) -> (f64, String) {
    let mut d = 0.08;
    let mut why: Vec<String> = Vec::new();
    let mut add = |x: f64, what: String, why: &mut Vec<String>| {
        d += x;
        if x.abs() >= 0.03 {
            why.push(what);
        }
    };
    let prior = match task {
        TaskClass::Math | TaskClass::Reasoning => 0.16,
        TaskClass::Code => 0.18,
        TaskClass::AgenticToolUse => 0.12,
        TaskClass::Extraction | TaskClass::Summarization | TaskClass::Translation | TaskClass::Creative => 0.06,
        TaskClass::Classification | TaskClass::Rewrite => 0.02,
        TaskClass::Chat => 0.0,
    };
    add(prior, format!("{} task", task.as_str()), &mut why);

    // Length: the log of the prompt's size, from ~40 tokens up.
    let tokens = f.prompt_tokens.max(1) as f64;
    let length = (0.035 * (tokens / 40.0).log2()).clamp(0.0, 0.3);
    let approx = if f.prompt_tokens_exact { "" } else { "~" };
    add(length, format!("{approx}{} prompt tokens", f.prompt_tokens), &mut why);

    let hard = s.weight[cue::HARD as usize] as f64;
    if hard > 0.0 {
        add((0.08 * hard).min(0.24), format!("depth cues: {}", examples(s, cue::HARD)), &mut why);
    }
    let reason = s.hits[cue::REASON as usize] as f64;
    if reason > 0.0 {
        add(
            (0.025 * reason).min(0.12),
            format!("{} reasoning cues ({})", reason, examples(s, cue::REASON)),
            &mut why,
        );
    }
    let constraints = f.constraint_cues as f64 + f.list_items.min(12) as f64 * 0.5;
    if constraints > 0.0 {
        add(
            (0.03 * constraints).min(0.18),
            format!("{} constraint cues ({})", f.constraint_cues, examples(s, cue::CONSTRAINT)),
            &mut why,
        );
    }
    // Notation and big numbers make math harder for a model; a proof harder still.
    if s.latex + s.math_syms >= 3 {
        add(0.08, "math notation".to_string(), &mut why);
    }
    if f.math_signals > 0 && f.max_digits >= 4 {
        let x = (0.04 * (f.max_digits as f64 - 3.0)).min(0.16);
        add(x, format!("{}-digit numbers", f.max_digits), &mut why);
    }
    if s.math_ops >= 4 {
        add(0.05, format!("{} operations", s.math_ops), &mut why);
    }
    if f.code_blocks >= 2 || s.indented_lines >= 20 {
        add(0.06, "several code blocks".to_string(), &mut why);
    }
    if f.has_schema {
        add(0.05, "JSON schema output".to_string(), &mut why);
    } else if f.wants_json {
        add(0.02, "JSON output".to_string(), &mut why);
    }
    if f.tools > 5 {
        add(0.05, format!("{} tools", f.tools), &mut why);
    }
    if f.has_tool_results {
        add(0.06, "multi-step tool use".to_string(), &mut why);
    }
    if f.user_turns >= 3 {
        add((0.015 * f.user_turns as f64).min(0.08), format!("{} user turns", f.user_turns), &mut why);
    }
    if f.has_images {
        add(0.05, "images".to_string(), &mut why);
    }
    if f.non_english {
        add(0.03, format!("language {}", f.language), &mut why);
    }
    match f.max_output_tokens {
        Some(n) if n >= 4000 => add(0.04, format!("max_tokens {n}"), &mut why),
        Some(n) if n <= 64 => add(-0.04, format!("max_tokens {n}"), &mut why),
        _ => {}
    }
    if task == TaskClass::Chat && s.hits[cue::CHAT as usize] > 0 && f.prompt_tokens < 40 && reason == 0.0 {
        add(-0.06, "short small talk".to_string(), &mut why);
    }
    let d = clamp01(d);
    let d = (d * 100.0).round() / 100.0;
    if why.is_empty() {
        why.push("no difficulty cues".to_string());
    }
    (d, format!("{d:.2}: {}", why.join(", ")))
}

fn decide_risk(req: &ChatRequest, s: &Scan) -> (RiskTier, String) {
    let mut tier = RiskTier::Low;
    let mut why: Vec<String> = Vec::new();
    let raise = |t: RiskTier, what: String, tier: &mut RiskTier, why: &mut Vec<String>| {
        if t > *tier {
            *tier = t;
        }
        if t > RiskTier::Low {
            why.push(what);
        }
    };
    if let Some(tr) = tool_risk(req) {
        let t = match tr.access {
            ToolAccess::Irreversible => RiskTier::Irreversible,
            ToolAccess::Write => RiskTier::High,
            ToolAccess::Read => RiskTier::Medium,
        };
        let what = match tr.access {
            ToolAccess::Read => format!("tools can act (read-only, e.g. '{}')", tr.tool),
            _ => format!("tool '{}' {}", tr.tool, tr.what),
        };
        raise(t, what, &mut tier, &mut why);
    }
    let n = |c: u32| s.hits[c as usize];
    if s.ssns + s.cards + s.ibans > 0 {
        let mut kinds = Vec::new();
        for (k, name) in [(s.ssns, "SSN-like"), (s.cards, "card-like (Luhn)"), (s.ibans, "IBAN-like")] {
            if k > 0 {
                kinds.push(name);
            }
        }
        raise(RiskTier::High, format!("personal data: {} number", kinds.join(", ")), &mut tier, &mut why);
    }
    if s.credentials > 0 {
        raise(RiskTier::High, format!("credentials: {} API or private key{}", s.credentials, if s.credentials == 1 { "" } else { "s" }), &mut tier, &mut why);
    }
    let contacts = s.emails + s.phones;
    let personal_words = n(cue::PERSONAL);
    if contacts + personal_words > 0 {
        let t = if contacts + personal_words >= 3 { RiskTier::High } else { RiskTier::Medium };
        let mut what = Vec::new();
        if s.emails > 0 {
            what.push(format!("{} e-mail address{}", s.emails, if s.emails == 1 { "" } else { "es" }));
        }
        if s.phones > 0 {
            what.push(format!("{} phone number{}", s.phones, if s.phones == 1 { "" } else { "s" }));
        }
        if personal_words > 0 {
            what.push(examples(s, cue::PERSONAL));
        }
        raise(t, format!("personal data: {}", what.join(", ")), &mut tier, &mut why);
    }
    // Moving money (pay, refund, wire transfer) is high when it comes up more than once; prices,
    // costs and amounts alone are medium.
    let moves = n(cue::MONEY);
    let money = moves + n(cue::FINANCE) + s.money_amounts;
    if money > 0 {
        let t = if moves >= 2 { RiskTier::High } else { RiskTier::Medium };
        let mut what = [examples(s, cue::MONEY), examples(s, cue::FINANCE)]
            .iter()
            .filter(|e| !e.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if s.money_amounts > 0 {
            if !what.is_empty() {
                what.push_str(", ");
            }
            what.push_str(&format!("{} amount{}", s.money_amounts, if s.money_amounts == 1 { "" } else { "s" }));
        }
        raise(t, format!("money: {what}"), &mut tier, &mut why);
    }
    for (c, label) in [(cue::MEDICAL, "medical"), (cue::LEGAL, "legal")] {
        let k = n(c);
        if k > 0 {
            let t = if k >= 3 { RiskTier::High } else { RiskTier::Medium };
            raise(t, format!("{label}: {}", examples(s, c)), &mut tier, &mut why);
        }
    }
    let reason = if why.is_empty() {
        "low: no money, legal, medical, personal-data, credential or tool-write cues".to_string()
    } else {
        format!("{}: {}", tier.as_str(), why.join("; "))
    };
    (tier, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Classification with every text counted (no tenant's counts kept).
    fn classify(req: &ChatRequest) -> Classification {
        super::classify(req, None)
    }

    fn req(v: serde_json::Value) -> ChatRequest {
        ChatRequest::from_value(v).unwrap()
    }

    fn user(text: &str) -> ChatRequest {
        req(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}))
    }

    fn task_of(text: &str) -> TaskClass {
        classify(&user(text)).task
    }

    #[test]
    fn classification_requests() {
        for p in [
            "Classify the sentiment of this review as positive, negative or neutral: The food was cold and the waiter was rude.",
            "Is this email spam? Answer yes or no.\n\nCongratulations, you won a free cruise!",
            "Determine whether the following statement is true or false: The Great Wall is visible from space.",
        ] {
            assert_eq!(task_of(p), TaskClass::Classification, "{p}");
        }
    }

    #[test]
    fn extraction_requests() {
        for p in [
            "Extract all the company names and dates mentioned in the following text: Acme Corp signed with Globex on 3 March 2021.",
            "Based on the passage below, who founded the company?\n\nPassage: The company was founded in 1998 by Larry Page and Sergey Brin while they were PhD students.",
        ] {
            assert_eq!(task_of(p), TaskClass::Extraction, "{p}");
        }
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "Invoice 2231 from Acme, due 2024-05-01, total 300"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "invoice", "schema": {"type": "object"}}}}),
        );
        let c = classify(&r);
        assert!(c.features.has_schema && c.features.wants_json);
        assert_eq!(c.task, TaskClass::Extraction, "{}", c.task_reason);
    }

    #[test]
    fn summarization_requests() {
        let article = "The city council met on Tuesday to discuss the new budget. ".repeat(20);
        assert_eq!(
            task_of(&format!("Summarize the following article in three bullet points:\n\n{article}")),
            TaskClass::Summarization
        );
        assert_eq!(task_of(&format!("{article}\n\nTL;DR?")), TaskClass::Summarization);
    }

    #[test]
    fn rewrite_requests() {
        for p in [
            "Rewrite this paragraph to sound more formal: hey guys, the meeting got moved to 3, don't be late",
            "Paraphrase the following sentence: The cat sat on the mat.",
            "Proofread and fix the grammar: Their going to the store tomorow.",
        ] {
            assert_eq!(task_of(p), TaskClass::Rewrite, "{p}");
        }
    }

    #[test]
    fn translation_requests() {
        for p in [
            "Translate into French: Where is the train station?",
            "How do you say 'good morning' in Japanese? Please give the translation.",
        ] {
            assert_eq!(task_of(p), TaskClass::Translation, "{p}");
        }
        assert_eq!(task_of("请把这句话翻译成英文：今天天气很好。"), TaskClass::Translation);
    }

    #[test]
    fn code_requests() {
        let c = classify(&user(
            "Why does this crash?\n```python\ndef f(xs):\n    return xs[0]\n```\nand this\n```python\nimport os\nprint(os.getcwd())\n```",
        ));
        assert_eq!(c.task, TaskClass::Code);
        assert_eq!(c.features.code_blocks, 2);
        assert!(
            c.task_reason.contains("2 fenced blocks") && c.task_reason.contains("python"),
            "{}",
            c.task_reason
        );
        assert_eq!(
            task_of("Write a Rust function that parses a CSV line, handling quoted fields."),
            TaskClass::Code
        );
        assert_eq!(
            task_of("Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\nKeyError: 'user_id'"),
            TaskClass::Code
        );
    }

    #[test]
    fn math_requests() {
        for p in [
            "Solve for x: 3x + 7 = 22",
            "What is 5431 times 3918?",
            "Compute $\\int_0^1 x^2 \\, dx$ and simplify.",
            "A train leaves at 3pm travelling at 60 miles per hour. How many miles has it travelled by 5:30pm?",
        ] {
            assert_eq!(task_of(p), TaskClass::Math, "{p}");
        }
    }

    #[test]
    fn reasoning_requests() {
        for p in [
            "Compare microservices and a monolith for a five-person startup. Analyze the trade-offs and explain why you would choose one.",
            "If all bloops are razzies and all razzies are lazzies, are all bloops definitely lazzies? Explain your reasoning.",
        ] {
            assert_eq!(task_of(p), TaskClass::Reasoning, "{p}");
        }
    }

    #[test]
    fn creative_requests() {
        for p in [
            "Write a short poem about autumn rain.",
            "Write a bedtime story about a dragon who is afraid of the dark.",
            "写一篇关于春天的短篇小说",
        ] {
            assert_eq!(task_of(p), TaskClass::Creative, "{p}");
        }
    }

    #[test]
    fn chat_requests() {
        for p in ["hi there!", "Hello, how are you today?", "Thanks, that helped a lot"] {
            assert_eq!(task_of(p), TaskClass::Chat, "{p}");
        }
    }

    fn tool(name: &str, description: &str) -> serde_json::Value {
        json!({"type": "function", "function": {"name": name, "description": description, "parameters": {"type": "object", "properties": {}}}})
    }

    #[test]
    fn tools_make_it_agentic() {
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "What's the weather in Paris?"}], "tools": [tool("get_weather", "Get the current weather for a city.")]}),
        );
        let c = classify(&r);
        assert_eq!(c.task, TaskClass::AgenticToolUse);
        assert!(c.task_reason.contains("1 tool offered"), "{}", c.task_reason);
        // A conversation carrying tool results is agentic even when the tools were not resent.
        let r = req(json!({"model": "m", "messages": [
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "18C, cloudy"}]}));
        let c = classify(&r);
        assert_eq!(c.task, TaskClass::AgenticToolUse);
        assert!(c.features.has_tool_results);
    }

    #[test]
    fn risk_low() {
        let c = classify(&user("hi there!"));
        assert_eq!(c.risk, RiskTier::Low);
        assert!(c.risk_reason.starts_with("low"));
    }

    #[test]
    fn risk_medium() {
        let c = classify(&user("What are common symptoms of the flu?"));
        assert_eq!(c.risk, RiskTier::Medium, "{}", c.risk_reason);
        assert!(c.risk_reason.contains("medical: symptoms"), "{}", c.risk_reason);
        let c = classify(&user("Reply to john.doe@example.com and say I'll be late."));
        assert_eq!(c.risk, RiskTier::Medium, "{}", c.risk_reason);
        assert_eq!(c.features.personal_data, vec!["email"]);
        let r = req(json!({"model": "m", "messages": [{"role": "user", "content": "weather?"}], "tools": [tool("get_weather", "Get the current weather.")]}));
        assert_eq!(classify(&r).risk, RiskTier::Medium);
    }

    #[test]
    fn risk_high() {
        let c = classify(&user("My SSN is 123-45-6789, can you fill in this form for me?"));
        assert_eq!(c.risk, RiskTier::High, "{}", c.risk_reason);
        assert!(c.features.personal_data.contains(&"ssn"));
        let c = classify(&user("Charge card 4111 1111 1111 1111 exp 12/29"));
        assert_eq!(c.risk, RiskTier::High, "{}", c.risk_reason);
        assert!(c.features.personal_data.contains(&"card"));
        let c = classify(&user("Send the refund to IBAN DE89 3704 0044 0532 0130 00 please"));
        assert!(c.features.personal_data.contains(&"iban"), "{:?}", c.features);
        assert!(c.risk >= RiskTier::High);
        let c = classify(&user(
            "My doctor changed my insulin dosage and now the symptoms are worse; should I change the dose of my other medication?",
        ));
        assert_eq!(c.risk, RiskTier::High, "{}", c.risk_reason);
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "Move the meeting to Friday"}], "tools": [tool("update_event", "Update a calendar event.")]}),
        );
        let c = classify(&r);
        assert_eq!(c.risk, RiskTier::High, "{}", c.risk_reason);
        assert!(c.risk_reason.contains("update_event"));
    }

    #[test]
    fn risk_irreversible() {
        for (name, desc, verb) in [
            ("transfer_funds", "Transfer money between accounts.", "moves money"),
            ("deleteFile", "Deletes a file from disk.", "deletes"),
            ("run", "Execute a shell command.", "executes"),
            ("notify", "Sends an SMS to a phone number.", "sends"),
        ] {
            let r = req(
                json!({"model": "m", "messages": [{"role": "user", "content": "do it"}], "tools": [tool("get_balance", "Get the balance."), tool(name, desc)]}),
            );
            let c = classify(&r);
            assert_eq!(c.risk, RiskTier::Irreversible, "{name}: {}", c.risk_reason);
            assert!(c.risk_reason.contains(name) && c.risk_reason.contains(verb), "{}", c.risk_reason);
        }
        // tool_choice "none": the model cannot call them.
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "hello"}], "tools": [tool("transfer_funds", "Transfer money.")], "tool_choice": "none"}),
        );
        assert!(classify(&r).risk < RiskTier::Irreversible);
        // Legacy `functions` are tools as well, unless `function_call` is "none".
        let legacy = json!({"model": "m", "messages": [{"role": "user", "content": "pay it"}], "functions": [{"name": "transfer_funds", "parameters": {"type": "object"}}]});
        let c = classify(&req(legacy.clone()));
        assert_eq!(c.risk, RiskTier::Irreversible, "{}", c.risk_reason);
        let mut off = legacy;
        off["function_call"] = json!("none");
        assert!(classify(&req(off)).risk < RiskTier::Irreversible);
        // A writing verb that makes a payment moves money; a record of one is read.
        let access = |name: &str| {
            let c = classify(&req(json!({"model": "m", "messages": [{"role": "user", "content": "do it"}], "tools": [tool(name, "")]})));
            c.risk
        };
        for name in ["create_refund", "createPayment", "create_transfer", "submit_order", "update_bank_account", "place_order",
            "refund_with_note", "transfer_funds_with_note", "pay_invoice_with_note", "charge_card_add_note", "refund_order_with_comment", "create_refund_with_note"] {
            assert_eq!(access(name), RiskTier::Irreversible, "{name}");
        }
        for name in ["track_order", "order_history", "get_order", "refund_status", "order_tracking_info", "order_item_details", "purchase_order_status", "refund_order_status"] {
            assert!(access(name) < RiskTier::High, "{name}: {:?}", access(name));
        }
        for name in ["add_contact", "update_order_status", "add_order_note", "add_note_to_order", "add_tag_to_order", "update_status_of_order", "set_order_shipping_status"] {
            assert_eq!(access(name), RiskTier::High, "{name}: an ordinary write");
        }
    }

    #[test]
    fn plain_words_for_crises_carry_risk() {
        for text in [
            "I want to kill myself",
            "I have chest pain and my left arm is numb",
            "How many ibuprofen pills can I take at once?",
            "I was arrested last night, what are my rights?",
        ] {
            let c = classify(&user(text));
            assert!(c.risk >= RiskTier::Medium, "{text}: {:?} {}", c.risk, c.risk_reason);
        }
        let c = classify(&user("Add a health check endpoint that returns the tenant id for each tenant"));
        assert_eq!(c.risk, RiskTier::Low, "{}", c.risk_reason);
    }

    #[test]
    fn log_timestamps_are_not_phone_numbers() {
        let logs = "Why does this fail?\n2024-01-15 10:23:45,123 ERROR db timeout\n2024-01-15 10:23:46,001 ERROR db timeout\n2024-01-15 10:23:47,310 ERROR retry failed";
        let c = classify(&user(logs));
        assert!(!c.risk_reason.contains("phone"), "{}", c.risk_reason);
        let c = classify(&user("Call me at 415-555-0123 or 415 555 0199, or +44 20 7946 0958 tomorrow"));
        assert!(c.risk_reason.contains("phone"), "{}", c.risk_reason);
    }

    #[test]
    fn c_plus_plus_is_a_word() {
        let c = classify(&user("Explain move semantics in C++"));
        assert_eq!(c.task, TaskClass::Code, "{}", c.task_reason);
    }

    #[test]
    fn difficulty_orders_greeting_below_constrained_proof() {
        let easy = classify(&user("hi!"));
        let hard = classify(&user(
            "Prove rigorously that there are infinitely many primes p such that p ≡ 3 (mod 4). \
             You must not use Dirichlet's theorem, you must state every lemma you use, and you must proceed step by step. \
             Do not skip any case, give exactly one counterexample to the naive argument, and compare your proof with Euclid's.",
        ));
        assert!(easy.difficulty < 0.15, "{}", easy.difficulty_reason);
        assert!(hard.difficulty > 0.6, "{}", hard.difficulty_reason);
        assert!(easy.difficulty < hard.difficulty);
        assert_eq!(hard.task, TaskClass::Math, "{}", hard.task_reason);
        assert!(hard.features.constraint_cues >= 5);
        assert!(hard.difficulty_reason.contains("depth cues"), "{}", hard.difficulty_reason);
        // Arithmetic on big numbers is harder than on small ones.
        assert!(classify(&user("What is 3 plus 4?")).difficulty < classify(&user("What is 68824 times 42716?")).difficulty);
        for c in [&easy, &hard] {
            assert!((0.0..=1.0).contains(&c.difficulty));
        }
    }

    #[test]
    fn reasons_are_never_empty() {
        let reqs = [
            user("hi"),
            user(""),
            user("12345"),
            user("Translate to German: good night"),
            req(
                json!({"model": "m", "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
            ),
        ];
        for r in &reqs {
            let c = classify(r);
            for s in [&c.task_reason, &c.difficulty_reason, &c.risk_reason] {
                assert!(!s.trim().is_empty(), "{c:?}");
            }
            assert!(c.task_reason.starts_with(c.task.as_str()), "{}", c.task_reason);
        }
    }

    #[test]
    fn deterministic() {
        let r = req(json!({"model": "m", "messages": [
            {"role": "system", "content": "You are a careful assistant for a bank."},
            {"role": "user", "content": "Explain why my transfer of $500 failed, step by step. ```sql\nSELECT * FROM transfers;\n```"}],
            "tools": [tool("lookup_transfer", "Look up a transfer by id.")]}));
        let a = classify(&r);
        for _ in 0..5 {
            assert_eq!(classify(&r), a);
        }
        assert_eq!(serde_json::to_string(&classify(&r)).unwrap(), serde_json::to_string(&a).unwrap());
    }

    #[test]
    fn images_are_flagged() {
        let r = req(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}));
        let c = classify(&r);
        assert!(c.features.has_images);
        assert!(c.difficulty_reason.contains("images"), "{}", c.difficulty_reason);
        assert_eq!(c.features.model, "gpt-4o");
    }

    #[test]
    fn huge_input_is_bounded() {
        // ~1 MB in the last turn, 200 earlier turns and a large system prompt.
        let big = "The quarterly report shows steady growth in all regions. ".repeat(18_000);
        let mut messages = vec![json!({"role": "system", "content": "Be precise. ".repeat(5_000)})];
        for i in 0..200 {
            messages.push(json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("turn {i}: {}", "words ".repeat(2_000))}));
        }
        messages.push(json!({"role": "user", "content": format!("Summarize this:\n{big}\nIn one sentence, please.")}));
        let r = req(json!({"model": "m", "messages": messages}));
        let c = classify(&r);
        assert!(c.features.truncated);
        assert!(c.features.scanned_bytes <= SCAN_BUDGET, "{}", c.features.scanned_bytes);
        assert!(c.features.prompt_tokens > 250_000);
        assert_eq!(c.task, TaskClass::Summarization, "{}", c.task_reason);
        assert!(c.difficulty <= 1.0);
        // Head and tail of a multi-byte text are cut on character boundaries.
        let cjk = "数学证明".repeat(100_000);
        let c = classify(&user(&cjk));
        assert!(c.features.scanned_bytes <= LAST_TURN_HEAD + LAST_TURN_TAIL);
        assert_eq!(c.features.language, "zh");
        // Many system messages share one cap.
        let mut many: Vec<_> = (0..400).map(|_| json!({"role": "system", "content": "Follow the rules. ".repeat(110)})).collect();
        many.push(json!({"role": "user", "content": "hi"}));
        let c = classify(&req(json!({"model": "m", "messages": many})));
        assert!(c.features.truncated);
        assert!(c.features.scanned_bytes <= SYSTEM_CAP + 2, "{}", c.features.scanned_bytes);
    }

    #[test]
    fn the_operators_instructions_raise_no_risk_but_data_in_them_does() {
        let with_system = |system: &str, user_text: &str| {
            classify(&req(json!({"model": "m", "messages": [{"role": "system", "content": system}, {"role": "user", "content": user_text}]})))
        };
        let guardrail = "You are a support bot. Do not provide medical, legal or financial advice. Never ask for a card number, \
            password or payment details; refunds over $50 need a human.";
        let c = with_system(guardrail, "hi");
        assert_eq!(c.risk, RiskTier::Low, "{}", c.risk_reason);
        // The same words from the user still count.
        assert!(with_system("You are a support bot.", "I need legal advice about my contract and a lawsuit clause").risk >= RiskTier::Medium);
        // A customer's card number put in the system prompt is data, not an instruction.
        let c = with_system("Customer card: 4111 1111 1111 1111.", "hi");
        assert_eq!(c.risk, RiskTier::High, "{}", c.risk_reason);
    }

    #[test]
    fn cards_pasted_with_their_expiry_and_credentials_are_high_risk() {
        for (text, why) in [
            ("Please book it with my card 4111 1111 1111 1111 12/29 cvv 123", "card-like"),
            ("card number 4111 1111 1111 1111 123", "card-like"),
            ("4111111111111111 12/29", "card-like"),
            ("Amex 3782 822463 10005 exp 04/27", "card-like"),
            ("3782 822463 10005 1234", "card-like"),
            ("4111 1111 1111 1111 1229 123", "card-like"),
            ("4111 1111 1111 1111 12/2029 123", "card-like"),
            ("Why does this fail? OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXyZ0aB3c", "credentials"),
            ("my key is AKIAIOSFODNN7EXAMPLE and the region is us-east-1", "credentials"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----", "credentials"),
            ("token: ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "credentials"),
        ] {
            let c = classify(&user(text));
            assert_eq!(c.risk, RiskTier::High, "{text}: {}", c.risk_reason);
            assert!(c.risk_reason.contains(why), "{text}: {}", c.risk_reason);
        }
        // Not credentials: a library's name, a short prefix.
        assert!(!classify(&user("How do I use sk-learn pipelines with sk-image?")).risk_reason.contains("credentials"));
    }

    #[test]
    fn timestamps_addresses_and_dotted_dates_are_not_personal_data() {
        for text in [
            r#"{"created_at": 1718065637866, "updated_at": 1718065637874, "seen_at": 1718065637881}"#,
            "Why can't 192.168.100.200 reach 10.100.200.250 through 172.16.254.100?",
            "15.01.2024 10:23:45 ERROR worker stopped\n16.01.2024 11:02:13 ERROR worker stopped\n17.01.2024 09:00:00 INFO started",
            "Revenue by year: 2015 2016 2017 2018 2019, and the forecast for 2023 2024 2025 2026 2027",
            "Order 4023847561234 (2 items) shipped",
        ] {
            let c = classify(&user(text));
            assert_eq!(c.risk, RiskTier::Low, "{text}: {}", c.risk_reason);
        }
    }

    #[test]
    fn features_are_counted() {
        let r = req(json!({"model": "m", "max_tokens": 300, "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"}]}));
        let f = classify(&r).features;
        assert_eq!((f.messages, f.user_turns), (4, 2));
        assert_eq!(f.system_tokens, 7);
        assert_eq!(f.max_output_tokens, Some(300));
        assert!(!f.truncated);
    }

    #[test]
    fn language_guess() {
        assert_eq!(classify(&user("Where is the nearest train station, please?")).features.language, "en");
        let c = classify(&user(
            "¿Dónde está la estación de tren más cercana? Necesito llegar para las cinco y no sé por dónde ir.",
        ));
        assert_eq!(c.features.language, "es");
        assert!(c.features.non_english);
        assert_eq!(classify(&user("Как пройти к ближайшему вокзалу?")).features.language, "ru");
        let c = classify(&user("Der Zug ist nicht pünktlich und ich weiß nicht, wann er ankommt."));
        assert_eq!(c.features.language, "de");
    }

    #[test]
    fn odd_text_does_not_panic() {
        let alphabet: Vec<char> = "aZ9 _-'’`$€+@.,;:(){}[]<>=*/^\\\n\t#?!0123456789éüßЖж数学あ한ّ😀\u{301}×÷∑".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in [0usize, 1, 2, 3, 7, 31, 32, 33, 64, 500, 5_000, 20_000] {
            for _ in 0..8 {
                let text: String = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let c = classify(&user(&text));
                assert!((0.0..=1.0).contains(&c.difficulty));
                assert!(!c.task_reason.is_empty());
            }
        }
        for text in [
            "```",
            "``````",
            "$",
            "$$x$$",
            "+",
            "+1",
            "@",
            "a@b",
            "x@y.z",
            "1-",
            "123-45-678",
            "4111111111111111",
            "DE89",
            "a\\",
            "\\frac",
            "c++",
        ] {
            classify(&user(text));
        }
    }

    #[test]
    fn numbers_that_look_like_identifiers_only() {
        // Dates, times and arithmetic are not phone or card numbers.
        let c = classify(&user("On 2023-07-25 at 10:30 we computed 26270 plus 70625 and 1, 2, 3, 4."));
        assert!(c.features.personal_data.is_empty(), "{:?}", c.features.personal_data);
        let c = classify(&user("Call me at +1 (415) 555-0132 tomorrow."));
        assert_eq!(c.features.personal_data, vec!["phone"]);
        // A 16-digit number failing the Luhn check is not a card.
        let c = classify(&user("Order 4111 1111 1111 1112 shipped."));
        assert!(!c.features.personal_data.contains(&"card"));
    }
}
