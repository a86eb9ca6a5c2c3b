//! Request parameters: the query string, and urlencoded or JSON bodies.
//!
//! Query strings are parsed as `application/x-www-form-urlencoded` pairs
//! (`+` is a space, percent escapes are UTF-8, invalid bytes replaced), and a
//! parameter is found by name anywhere in them.

use serde_json::Value;

/// Ordered name/value pairs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=two+words`.
    pub fn parse(text: &[u8]) -> Params {
        Params(
            form_urlencoded::parse(text)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Parses a JSON object whose values are strings, numbers or booleans.
    pub fn from_json(text: &[u8]) -> Option<Params> {
        let Value::Object(map) = serde_json::from_slice(text).ok()? else {
            return None;
        };
        let mut out = Params::default();
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => continue,
                other => other.to_string(),
            };
            out.push(k, v);
        }
        Some(out)
    }

    pub fn push(&mut self, name: String, value: String) {
        self.0.push((name, value));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_follows_form_rules() {
        let p = Params::parse(b"x=1&qqfilename=my+file+(1)+%C3%BC%2Bx.txt&done");
        assert_eq!(p.get("qqfilename"), Some("my file (1) ü+x.txt"));
        assert!(p.has("done"));
        assert_eq!(p.get("x"), Some("1"));
    }

    #[test]
    fn json_values_become_strings() {
        let p = Params::from_json(br#"{"qquuid":"a","qqtotalparts":3,"n":null}"#).unwrap();
        assert_eq!(p.get("qqtotalparts"), Some("3"));
        assert!(!p.has("n"));
        assert!(Params::from_json(b"[1]").is_none());
    }
}
