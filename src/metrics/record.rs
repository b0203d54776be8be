//! A [`Record`]: metric name → value, in the order the registry lists them.
//! One record per evaluation feeds `metrics.jsonl`, `summary.json`, the
//! report's columns and the figures.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A metric's value. JSON has no NaN: non-finite numbers are written as
/// `null` and read back as NaN.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A count (active units, codes used).
    Count(usize),
    /// A number (nats, a fraction, a perplexity).
    Number(f64),
    /// One number per latent dimension, component or code.
    Vector(Vec<f64>),
}

impl Value {
    /// The value as a number (counts too); None for vectors.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Count(c) => Some(*c as f64),
            Value::Number(x) => Some(*x),
            Value::Vector(_) => None,
        }
    }

    /// The value as a vector; None for scalars.
    pub fn as_vec(&self) -> Option<&[f64]> {
        match self {
            Value::Vector(v) => Some(v),
            _ => None,
        }
    }

    fn from_json(v: &serde_json::Value) -> Option<Value> {
        use serde_json::Value as J;
        match v {
            J::Null => Some(Value::Number(f64::NAN)),
            J::Number(n) => Some(match n.as_u64() {
                Some(c) if !n.is_f64() => Value::Count(c as usize),
                _ => Value::Number(n.as_f64()?),
            }),
            J::Array(a) => Some(Value::Vector(
                a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect(),
            )),
            _ => None,
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Count(c) => s.serialize_u64(*c as u64),
            Value::Number(x) => s.serialize_f64(*x),
            Value::Vector(v) => v.serialize(s),
        }
    }
}

/// Metric values by name, in insertion order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record(Vec<(String, Value)>);

impl Record {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `name` (replacing an earlier value).
    pub fn insert(&mut self, name: &str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// A scalar by name (a count reads as a number).
    pub fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?.as_f64()
    }

    /// A count by name.
    pub fn count(&self, name: &str) -> Option<usize> {
        match self.get(name)? {
            Value::Count(c) => Some(*c),
            Value::Number(x) if x.is_finite() && *x >= 0.0 => Some(*x as usize),
            _ => None,
        }
    }

    /// A vector by name.
    pub fn vector(&self, name: &str) -> Option<&[f64]> {
        self.get(name)?.as_vec()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries of a JSON object that are numbers, counts, nulls or
    /// arrays of numbers (strings and nested objects are skipped).
    pub fn from_json(v: &serde_json::Value) -> Self {
        let mut r = Record::new();
        if let Some(obj) = v.as_object() {
            for (k, x) in obj {
                if let Some(val) = Value::from_json(x) {
                    r.insert(k, val);
                }
            }
        }
        r
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of metric values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut r = Record::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    if let Some(val) = Value::from_json(&v) {
                        r.insert(&k, val);
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_in_order_with_nan_as_null() {
        let mut r = Record::new();
        r.insert("elbo", Value::Number(-90.5));
        r.insert("active_units", Value::Count(3));
        r.insert("mi", Value::Number(f64::NAN));
        r.insert("kl_per_dim", Value::Vector(vec![1.0, 0.5]));
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"elbo":-90.5,"active_units":3,"mi":null,"kl_per_dim":[1.0,0.5]}"#
        );
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back.float("elbo"), Some(-90.5));
        assert_eq!(back.count("active_units"), Some(3));
        assert!(back.float("mi").unwrap().is_nan());
        assert_eq!(back.vector("kl_per_dim"), Some(&[1.0, 0.5][..]));
    }
}
