//! The shipped configuration must load: a typo in kv-seed/ would otherwise surface only at the edge.

use costrouter::catalog::Catalog;
use costrouter::money::Usd;
use costrouter::pricing::PriceTable;

#[test]
fn shipped_catalog_and_pricing_load_and_agree() {
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).expect("kv-seed/catalog.json");
    let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).expect("kv-seed/pricing.json");
    catalog.check_prices(&prices).expect("every model has a price");
    assert!(catalog.resolve("gpt4o").is_some());
}

#[test]
fn the_flagship_models_clients_name_are_seeded_at_litellms_prices() {
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
    let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
    // (name a client sends, $ per million input, $ per million output), LiteLLM 1.110.2's rows.
    for (name, input, output) in [
        ("claude-opus-4-7", 5.0, 25.0),
        ("claude-opus-4-7-20260416", 5.0, 25.0),
        ("claude-opus-4-8", 5.0, 25.0),
        ("claude-opus-5", 5.0, 25.0),
        ("claude-sonnet-5", 2.0, 10.0),
        ("claude-opus-5-5", 4.0, 20.0),
        ("claude-sonnet-5-5", 2.0, 10.0),
        ("claude-haiku-5-5", 0.1, 0.5),
        ("gpt-5.4", 2.5, 15.0),
        ("gpt-5.5", 5.0, 30.0),
        ("gpt-5.6", 4.0, 20.0),
        ("gemini-3.1-pro", 2.0, 12.0),
    ] {
        let model = catalog.resolve(name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
        let price = prices.get(&model.price_key).unwrap_or_else(|| panic!("{} has no price", model.price_key));
        let per_million = |usd: f64| Usd::per_token_from_per_million(usd).unwrap();
        assert_eq!((price.base.input, price.base.output), (per_million(input), per_million(output)), "{name}");
    }
}

#[test]
fn shipped_policies_load_against_the_catalog() {
    use costrouter::routing::policy::Policy;
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/policies")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        Policy::from_toml(&path.display().to_string(), &text, &catalog).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A seeded Claude row says it reasons (its savings baselines keep thinking tokens) exactly when
/// the Anthropic adapter expects its model to think unasked: the row and the adapter agree.
#[test]
fn seeded_claude_rows_reason_as_the_anthropic_adapter_sends_them() {
    use costrouter::catalog::ProviderKind;
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
    let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
    let mut claude_rows = 0;
    for (name, model) in catalog.public_names() {
        for deployment in &model.deployments {
            if catalog.providers[&deployment.provider].kind != ProviderKind::Anthropic {
                continue;
            }
            claude_rows += 1;
            let row = prices.get(model.price_key_of(deployment)).unwrap();
            let thinks = costrouter::providers::anthropic::thinks_unasked(&deployment.upstream_model);
            assert_eq!(row.supports_reasoning, thinks, "{name}: the row says reasoning {}, the adapter {thinks}", row.supports_reasoning);
        }
    }
    assert!(claude_rows >= 10, "{claude_rows}");
}
