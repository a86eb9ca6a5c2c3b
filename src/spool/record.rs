//! The metadata record kept beside each upload's data (`<id>.json`).
//!
//! It is the one description of an upload that every protocol and the admin
//! commands share: original name, declared size, bytes received, which parts
//! (Fine Uploader) have arrived, the client's metadata, variants. It is always
//! replaced whole (temporary file, fsync, rename), never edited in place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which widget protocol created the upload.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    FineUploader,
    FilePond,
    Tus,
}

/// One byte range of a part-wise upload: part index → (offset, length).
pub type PartMap = BTreeMap<u64, (u64, u64)>;

/// Parts of a Fine Uploader chunked upload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    /// `qqtotalparts`.
    pub total: u64,
    /// Parts stored durably so far, by index, as `[index, offset, length]`.
    #[serde(with = "part_list")]
    pub stored: PartMap,
}

impl Parts {
    /// True when parts 0..total are all present and tile `0..size` exactly.
    pub fn tile(&self, size: u64) -> bool {
        if self.stored.len() as u64 != self.total {
            return false;
        }
        let mut next = 0u64;
        for (i, (index, (offset, len))) in self.stored.iter().enumerate() {
            if *index != i as u64 || *offset != next {
                return false;
            }
            next = offset.saturating_add(*len);
        }
        next == size
    }

    /// Bytes in the stored parts.
    pub fn bytes(&self) -> u64 {
        self.stored.values().map(|(_, len)| len).sum()
    }
}

/// An extra file stored with an upload (FilePond image-transform variants).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub size: u64,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// The metadata record of one upload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Record {
    pub id: String,
    pub protocol: Protocol,
    /// Cleaned original file name; unknown for a FilePond transfer before its first chunk.
    pub name: Option<String>,
    /// Total size in bytes, when known.
    pub size: Option<u64>,
    /// Bytes stored so far (contiguous prefix for FilePond, sum of parts for Fine Uploader).
    pub received: u64,
    pub complete: bool,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds of the last change.
    pub updated: u64,
    /// Client metadata: Fine Uploader custom parameters, or FilePond's JSON object.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Parts>,
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// tus: the length was deferred at creation (`Upload-Defer-Length: 1`)
    /// and is not known yet while `size` is `None`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub defer_length: bool,
    /// tus: `Upload-Metadata` exactly as received, echoed by `HEAD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_metadata: Option<String>,
    /// tus: a partial upload (`Upload-Concat: partial`), a piece of a final
    /// upload to come; never claimed itself.
    #[serde(default, skip_serializing_if = "is_false")]
    pub partial: bool,
    /// tus: `Upload-Concat` of a final upload as received (`final;<urls>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concat: Option<String>,
    /// The `sub` of the upload token that created the upload (issue 16);
    /// every later request on it needs a token with the same `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Record {
    /// A fresh record stamped with the current time.
    pub fn new(id: &crate::spool::Id, protocol: Protocol) -> Record {
        let now = unix_now();
        Record {
            id: id.as_str().to_owned(),
            protocol,
            name: None,
            size: None,
            received: 0,
            complete: false,
            media_type: None,
            created: now,
            updated: now,
            metadata: Map::new(),
            parts: None,
            variants: Vec::new(),
            defer_length: false,
            upload_metadata: None,
            partial: false,
            concat: None,
            sub: None,
        }
    }

    /// The JSON object `upspool info` and `claim` print.
    pub fn info_json(&self) -> Value {
        let mut info = serde_json::json!({
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "complete": self.complete,
            "received": self.received,
            "type": self.media_type,
            "protocol": self.protocol,
            "created": self.created,
            "updated": self.updated,
            "metadata": self.metadata,
            "sub": self.sub,
            "variants": self.variants.iter().map(|v| serde_json::json!({"name": v.name, "size": v.size})).collect::<Vec<_>>(),
        });
        // tus's concatenation, shown only where it applies.
        if self.partial {
            info["partial"] = Value::Bool(true);
        }
        if let Some(c) = &self.concat {
            info["concat"] = Value::String(c.clone());
        }
        info
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

mod part_list {
    use super::PartMap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(map: &PartMap, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter().map(|(i, (o, l))| [*i, *o, *l]))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PartMap, D::Error> {
        let list = Vec::<[u64; 3]>::deserialize(d)?;
        Ok(list.into_iter().map(|[i, o, l]| (i, (o, l))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiling_needs_every_part_in_order_without_gaps() {
        let mut p = Parts {
            total: 3,
            stored: PartMap::new(),
        };
        p.stored.insert(0, (0, 4));
        p.stored.insert(2, (8, 2));
        assert!(!p.tile(10));
        p.stored.insert(1, (4, 4));
        assert!(p.tile(10));
        assert!(!p.tile(11));
        p.stored.insert(1, (5, 3));
        assert!(!p.tile(10));
    }

    #[test]
    fn record_round_trips() {
        let id = crate::spool::Id::parse("abc").unwrap();
        let mut r = Record::new(&id, Protocol::FineUploader);
        let mut parts = Parts {
            total: 2,
            stored: PartMap::new(),
        };
        parts.stored.insert(1, (5, 3));
        r.parts = Some(parts);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("[[1,5,3]]"), "{text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
    }
}
