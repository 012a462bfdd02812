//! Every key name under a prefix in a KV namespace. KV lists at most 1,000 keys a call; a caller
//! that reads one page silently stops at the thousandth tenant or key.

use worker::kv::KvStore;

pub async fn names_under(kv: &KvStore, prefix: &str) -> Result<Vec<String>, worker::kv::KvError> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = kv.list().prefix(prefix.to_string());
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await?;
        names.extend(page.keys.into_iter().map(|k| k.name));
        if page.list_complete {
            break;
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(names)
}
