//! What the fuzz targets share: how an input is cut into chunks, and the seed catalog.
//!
//! Inputs of the chunked targets are `[k][k chunk lengths, u16 little-endian][payload]`: the
//! fuzzer controls where the payload is split as well as what it holds, so split-dependent bugs
//! are reachable. Lengths are two bytes so a cut can fall anywhere in a recorded stream of a few
//! KB (one byte each, 16 cuts reached only its first 4,080 bytes, short of the usage chunk and
//! the stream's end).

use costrouter::catalog::{Catalog, ProviderConfig, ProviderKind};

/// Splits `input` into its payload cut at fuzzer-chosen points (the last chunk takes the rest).
pub fn chunked(input: &[u8]) -> (Vec<u8>, Vec<&[u8]>) {
    let Some((&k, rest)) = input.split_first() else { return (Vec::new(), Vec::new()) };
    let k = usize::from(k % 16).min(rest.len() / 2);
    let (lengths, payload) = rest.split_at(2 * k);
    let mut chunks = Vec::new();
    let mut at = 0;
    for len in lengths.chunks_exact(2) {
        let end = (at + usize::from(u16::from_le_bytes([len[0], len[1]]))).min(payload.len());
        chunks.push(&payload[at..end]);
        at = end;
    }
    chunks.push(&payload[at..]);
    (payload.to_vec(), chunks)
}

/// The catalog `make dev` seeds, so model names and provider quirks are the real ones.
pub fn seed_catalog() -> Catalog {
    Catalog::from_json(include_str!("../../kv-seed/catalog.json")).expect("kv-seed/catalog.json loads")
}

/// Every provider of the seed catalog, plus an Azure one (the seed catalog has none), so each
/// wire format's stream translator is reached.
pub fn all_providers() -> Vec<ProviderConfig> {
    let mut providers: Vec<ProviderConfig> = seed_catalog().providers.into_values().collect();
    let mut azure = providers.iter().find(|p| p.kind == ProviderKind::Openai).expect("an OpenAI provider").clone();
    azure.id = "azure".into();
    azure.kind = ProviderKind::Azure;
    azure.base_url = "https://example.openai.azure.com".into();
    azure.api_version = Some("2024-10-21".into());
    providers.push(azure);
    providers
}
