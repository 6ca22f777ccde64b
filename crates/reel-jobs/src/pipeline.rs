//! go-livepeer's pipeline names for the AI capabilities, and the gateway's price caps per
//! (pipeline, model) in its `-maxPricePerCapability` JSON.

use std::collections::BTreeMap;

use reel_types::{PricePerUnit, U256};
use serde::Deserialize;

use crate::CapabilityKey;

/// Pipeline name → capability id, as go-livepeer names them in its model config, its
/// price caps and its gateway's HTTP paths.
pub const PIPELINES: &[(&str, u32)] = &[
    ("text-to-image", 27),
    ("image-to-image", 28),
    ("image-to-video", 29),
    ("upscale", 30),
    ("audio-to-text", 31),
    ("segment-anything-2", 32),
    ("llm", 33),
    ("image-to-text", 34),
    ("live-video-to-video", 35),
    ("text-to-speech", 36),
];

/// The capability id of a pipeline name.
pub fn capability_of(pipeline: &str) -> Option<u32> {
    PIPELINES
        .iter()
        .find(|(name, _)| *name == pipeline)
        .map(|&(_, id)| id)
}

/// The pipeline name of a capability id, if it is an AI pipeline.
pub fn pipeline_of(capability: u32) -> Option<&'static str> {
    PIPELINES
        .iter()
        .find(|&&(_, id)| id == capability)
        .map(|&(name, _)| name)
}

/// Why a price-cap document was refused.
#[derive(Debug, thiserror::Error)]
pub enum PriceCapError {
    #[error("not the expected JSON {{\"capabilities_prices\":[…]}}: {0}")]
    Json(#[from] serde_json::Error),
    #[error("entry {index}: unknown pipeline {pipeline:?} (known: {known})")]
    UnknownPipeline {
        index: usize,
        pipeline: String,
        known: String,
    },
    #[error(
        "entry {index}: currency {currency:?} needs a price feed, which reel does not have; give the price in wei"
    )]
    Currency { index: usize, currency: String },
    #[error("entry {index}: {what} must be a whole number, not {value}")]
    NotWhole {
        index: usize,
        what: &'static str,
        value: String,
    },
    #[error("entry {index}: pixels_per_unit must be at least 1")]
    ZeroUnits { index: usize },
    #[error("entry {index}: ({pipeline}, {model}) is capped twice")]
    Duplicate {
        index: usize,
        pipeline: String,
        model: String,
    },
}

#[derive(Deserialize)]
struct Doc {
    capabilities_prices: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    pipeline: String,
    #[serde(default = "default_model")]
    model_id: String,
    price_per_unit: serde_json::Value,
    #[serde(default)]
    pixels_per_unit: Option<serde_json::Value>,
    #[serde(default)]
    currency: Option<String>,
}

fn default_model() -> String {
    "default".to_owned()
}

/// A JSON number or a decimal string, whole and non-negative, as a U256.
fn whole(index: usize, what: &'static str, v: &serde_json::Value) -> Result<U256, PriceCapError> {
    let text = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    };
    let err = || PriceCapError::NotWhole {
        index,
        what,
        value: text.clone(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    U256::from_str_radix(&text, 10).map_err(|_| err())
}

/// Parses `{"capabilities_prices":[{"pipeline","model_id","price_per_unit",
/// "pixels_per_unit","currency"}]}`: wei per `pixels_per_unit` units (default 1) for
/// (pipeline, model); model `"default"` (or none) caps the pipeline's other models.
pub fn parse_price_caps(
    json: &str,
) -> Result<BTreeMap<CapabilityKey, PricePerUnit>, PriceCapError> {
    let doc: Doc = serde_json::from_str(json)?;
    let mut caps = BTreeMap::new();
    for (index, e) in doc.capabilities_prices.into_iter().enumerate() {
        let capability =
            capability_of(&e.pipeline).ok_or_else(|| PriceCapError::UnknownPipeline {
                index,
                pipeline: e.pipeline.clone(),
                known: PIPELINES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if let Some(c) = e.currency.as_deref()
            && !c.eq_ignore_ascii_case("wei")
            && !c.is_empty()
        {
            return Err(PriceCapError::Currency {
                index,
                currency: c.to_owned(),
            });
        }
        let num = whole(index, "price_per_unit", &e.price_per_unit)?;
        let den = match &e.pixels_per_unit {
            Some(v) => whole(index, "pixels_per_unit", v)?,
            None => U256::from(1u64),
        };
        let price = PricePerUnit::new(num, den).map_err(|_| PriceCapError::ZeroUnits { index })?;
        let key = CapabilityKey::new(capability, e.model_id.clone());
        if caps.insert(key, price).is_some() {
            return Err(PriceCapError::Duplicate {
                index,
                pipeline: e.pipeline,
                model: e.model_id,
            });
        }
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_map_both_ways() {
        assert_eq!(capability_of("text-to-speech"), Some(36));
        assert_eq!(pipeline_of(31), Some("audio-to-text"));
        assert_eq!(capability_of("transcode"), None);
        for &(name, id) in PIPELINES {
            assert_eq!(pipeline_of(id), Some(name));
        }
    }

    #[test]
    fn go_livepeer_price_caps_parse_exactly() {
        let caps = parse_price_caps(
            r#"{"capabilities_prices":[
                {"pipeline":"text-to-image","model_id":"stabilityai/sd-turbo","price_per_unit":4768371,"pixels_per_unit":1},
                {"pipeline":"llm","model_id":"default","price_per_unit":"1000000000000000000000","pixels_per_unit":3,"currency":"WEI"},
                {"pipeline":"audio-to-text","price_per_unit":0}
            ]}"#,
        )
        .unwrap();
        assert_eq!(caps.len(), 3);
        let k = CapabilityKey::new(27, "stabilityai/sd-turbo");
        assert_eq!(caps[&k], PricePerUnit::from_wei_per_unit(4_768_371));
        let llm = caps[&CapabilityKey::new(33, "default")];
        assert_eq!(llm.num(), U256::from(1_000_000_000_000_000_000_000u128));
        assert_eq!(llm.den(), U256::from(3u64));
        assert!(caps[&CapabilityKey::new(31, "default")].is_zero());
    }

    #[test]
    fn bad_caps_say_which_entry_and_why() {
        let e = |j: &str| parse_price_caps(j).unwrap_err().to_string();
        assert!(
            e(r#"{"capabilities_prices":[{"pipeline":"paint","price_per_unit":1}]}"#)
                .contains("entry 0: unknown pipeline \"paint\"")
        );
        assert!(e(r#"{"capabilities_prices":[{"pipeline":"llm","price_per_unit":1,"currency":"USD"}]}"#)
            .contains("currency \"USD\" needs a price feed"));
        assert!(
            e(r#"{"capabilities_prices":[{"pipeline":"llm","price_per_unit":-1}]}"#)
                .contains("price_per_unit must be a whole number, not -1")
        );
        assert!(
            e(r#"{"capabilities_prices":[{"pipeline":"llm","price_per_unit":1.5}]}"#)
                .contains("not 1.5")
        );
        assert!(e(r#"{"capabilities_prices":[{"pipeline":"llm","price_per_unit":1,"pixels_per_unit":0}]}"#)
            .contains("at least 1"));
        assert!(e(r#"{"capabilities_prices":[{"pipeline":"llm","price_per_unit":1},{"pipeline":"llm","model_id":"default","price_per_unit":2}]}"#)
            .contains("entry 1: (llm, default) is capped twice"));
        assert!(e(r#"{"prices":[]}"#).contains("capabilities_prices"));
    }
}
