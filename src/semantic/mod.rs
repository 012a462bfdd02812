//! Semantic response cache core: a static text embedder and an in-memory nearest-entry index.
//!
//! The embedder ([`StaticEmbedder`]) maps text to a unit vector with no network call: BERT-uncased
//! tokenization, one int8 row per WordPiece token (distilled from all-MiniLM-L6-v2, see
//! `kv-seed/embedder.LICENSE`), mean-pooled. The index ([`SemanticIndex`]) keeps int8 vectors per
//! bucket (the caller's hash of tenant, model, system prompt and earlier turns), so only the last
//! user turn is compared by meaning and a different bucket never matches. A [`MatchGuard`] stored
//! with each entry requires the same numbers and negations and most content words in common,
//! which bag-of-token embeddings blur.
//!
//! Plain Rust, no worker types; the edge stores weights in KV and the index in a Durable Object.

mod embedder;
mod guard;
mod index;
mod tokenizer;

pub use embedder::{Embedding, EmbedderError, StaticEmbedder};
pub use guard::{MatchGuard, MIN_CONTENT_OVERLAP};
pub use index::{max_entries_for, IndexError, QuantizedVector, SemanticIndex, BucketKey, MAX_STORED_NUMBERS};

/// Default cosine-similarity threshold for a semantic hit (with a compatible [`MatchGuard`]);
/// a tenant policy may override it (`[cache] semantic_threshold`). Chosen for precision first:
/// on the sentence-paraphrase pairs of bench/semantic the lowest threshold with tune-split
/// precision ≥ 0.98 is 0.965 (held-out precision 0.994 at recall 0.21); on all BIG-bench sources
/// no threshold reaches 0.98 (metaphor pairs share their words), see bench/semantic/RESULTS.md.
pub const DEFAULT_THRESHOLD: f32 = 0.97;
