//! Configuration documents are JSON objects keyed by name (providers, models, aliases, prices),
//! and serde_json keeps the last of two entries with the same key, silently: a provider pasted
//! twice with a different `region` would lose the first without a word. [`first_duplicate_key`]
//! finds such a key before the document is read.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The path (`models.gpt-4o-mini`) of the first key an object of `text` repeats, if any. Text
/// that is not JSON is `None`: the document's own parse reports that.
pub fn first_duplicate_key(text: &str) -> Option<String> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = Walk { path: String::new(), found: &mut found }.deserialize(&mut de);
    found
}

struct Walk<'a> {
    path: String,
    found: &'a mut Option<String>,
}

impl Walk<'_> {
    fn child(&mut self, key: &str) -> Walk<'_> {
        let path = if self.path.is_empty() || key.starts_with('[') { format!("{}{key}", self.path) } else { format!("{}.{key}", self.path) };
        Walk { path, found: &mut *self.found }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.found.is_none() && !seen.insert(key.clone()) {
                *self.found = Some(self.child(&key).path);
            }
            map.next_value_seed(self.child(&key))?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq.next_element_seed(self.child(&format!("[{i}]")))?.is_some() {
            i += 1;
        }
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_found_with_its_path() {
        assert_eq!(first_duplicate_key(r#"{"models":{"a":{"x":1},"b":{},"a":{}}}"#), Some("models.a".into()));
        assert_eq!(first_duplicate_key(r#"{"list":[{"k":1,"k":2}]}"#), Some("list[0].k".into()));
        assert_eq!(first_duplicate_key(r#"{"a":{"k":1},"b":{"k":2},"c":[1,"s",null,true,2.5]}"#), None, "the same key in two objects is no repeat");
        assert_eq!(first_duplicate_key("not json"), None);
    }
}
