//! The shipped configuration must load: a typo in kv-seed/ would otherwise surface only at the edge.

use costrouter::catalog::Catalog;
use costrouter::pricing::PriceTable;

#[test]
fn shipped_catalog_and_pricing_load_and_agree() {
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).expect("kv-seed/catalog.json");
    let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).expect("kv-seed/pricing.json");
    catalog.check_prices(&prices).expect("every model has a price");
    assert!(catalog.resolve("gpt4o").is_some());
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
