//! Serde helpers: kernel addresses and raw words serialize as `"0x..."` strings, since JSON
//! numbers above 2^53 lose precision in most readers.

use super::Known;
use serde::Serializer;
use serde::ser::{Serialize, SerializeStruct};

/// A word shown in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hex(pub u64);

impl schemars::JsonSchema for Hex {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Hex".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^0x[0-9a-f]+$",
            "description": "A kernel address or raw word in hex (JSON numbers lose precision above 2^53)."
        })
    }
}

/// How [`known`] serializes a `Known<u64>`, for its JSON Schema only.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct KnownHex {
    value: Hex,
    evidence: super::Evidence,
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

pub(crate) fn u64<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    Hex(*v).serialize(s)
}

pub(crate) fn opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => Hex(*v).serialize(s),
        None => s.serialize_none(),
    }
}

pub(crate) fn known<S: Serializer>(k: &Known<u64>, s: S) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct("Known", 2)?;
    st.serialize_field("value", &Hex(k.value))?;
    st.serialize_field("evidence", &k.evidence)?;
    st.end()
}

pub(crate) fn opt_known<S: Serializer>(k: &Option<Known<u64>>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => known(k, s),
        None => s.serialize_none(),
    }
}
