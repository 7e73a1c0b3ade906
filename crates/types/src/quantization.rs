//! Quantization as Qdrant configures it (`quantization_config`, collection-level or per vector)
//! and as a search asks for it (`params.quantization`). The configuration stays JSON in the
//! collection config (echoed as given); these parse it strictly and say what Quiver honours:
//! scalar `int8`, product quantization (`compression` `x4`…`x64`: each code byte stands for a
//! chunk of `N/4` dimensions, design record 029) and binary `one_bit`, `one_and_half_bits` and
//! `two_bits` (design record 033) with the query in the store's code or in 4 or 8 bits
//! (`query_encoding`; design records 020, 029).

use crate::TypesError;
use serde::Deserialize;
use serde_json::Value;

/// A quantization Quiver applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantization {
    /// Scalar int8; `quantile` (0.5–1) of the values sets the range, `None` for all of it.
    Int8 { quantile: Option<f32>, always_ram: Option<bool> },
    /// Binary codes of `encoding`; the query in `query_bits` bits per dimension
    /// (`query_encoding`: 1 for `default`/`binary`, meaning the store's own code, 4 for
    /// `scalar4bits`, 8 for `scalar8bits`).
    Binary { encoding: BinaryEncoding, always_ram: Option<bool>, query_bits: u32 },
    /// Product quantization: one byte (of 256 trained centroids) per chunk of
    /// `compression / 4` dimensions, so the codes take `1 / compression` of the f32 bytes.
    Product { compression: u32, always_ram: Option<bool> },
}

/// How many bits a binary quantization keeps per dimension (design record 033).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryEncoding {
    /// `one_bit`: the sign of each value.
    OneBit,
    /// `one_and_half_bits`: each value's side of its dimension's mean, and one bit per pair of
    /// dimensions saying whether the pair is far from the mean (else both count as zero).
    OneAndHalfBits,
    /// `two_bits`: each value as −1, 0 or +1 around its dimension's mean.
    TwoBits,
}

/// The compression ratios Qdrant offers for product quantization.
const COMPRESSIONS: [(&str, u32); 5] = [("x4", 4), ("x8", 8), ("x16", 16), ("x32", 32), ("x64", 64)];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScalarJson {
    /// Memory placement of the quantized vectors (v1.19): checked, kept as given.
    #[serde(default)]
    #[allow(dead_code)]
    memory: Option<crate::memory::Memory>,
    r#type: String,
    #[serde(default)]
    quantile: Option<f32>,
    #[serde(default)]
    always_ram: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductJson {
    /// Memory placement of the quantized vectors (v1.19): checked, kept as given.
    #[serde(default)]
    #[allow(dead_code)]
    memory: Option<crate::memory::Memory>,
    compression: Value,
    #[serde(default)]
    always_ram: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BinaryJson {
    /// Memory placement of the quantized vectors (v1.19): checked, kept as given.
    #[serde(default)]
    #[allow(dead_code)]
    memory: Option<crate::memory::Memory>,
    #[serde(default)]
    always_ram: Option<bool>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    query_encoding: Option<String>,
}

fn bad(message: impl Into<String>) -> TypesError {
    TypesError::BadInput(message.into())
}

fn field<T: serde::de::DeserializeOwned>(kind: &str, value: &Value) -> Result<T, TypesError> {
    serde_json::from_value(value.clone()).map_err(|e| bad(format!("{kind} quantization: {e}")))
}

impl Quantization {
    /// Parses a `quantization_config` value at the top of a body; `Ok(None)` for the
    /// `"Disabled"` form of a PATCH.
    pub fn parse(value: &Value) -> Result<Option<Quantization>, TypesError> {
        Quantization::parse_at(value, "quantization_config")
    }

    /// Parses a `quantization_config` value found at `path` of the body (`quantization_config`,
    /// `vectors.quantization_config`, `vectors.<name>.quantization_config`), which the
    /// validation issues name.
    pub fn parse_at(value: &Value, path: &str) -> Result<Option<Quantization>, TypesError> {
        if value.as_str().is_some_and(|s| s.eq_ignore_ascii_case("disabled")) {
            return Ok(None);
        }
        let Some((kind, inner)) = value.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) else {
            return Err(bad("quantization_config must be one of scalar, product, binary"));
        };
        match kind.as_str() {
            "scalar" => {
                let scalar: ScalarJson = field("scalar", inner)?;
                if scalar.r#type != "int8" {
                    return Err(bad(format!("unknown scalar quantization type {:?}", scalar.r#type)));
                }
                if let Some(q) = scalar.quantile
                    && !(0.5..=1.0).contains(&q)
                {
                    return Err(TypesError::Validation(crate::validation::between(
                        &format!("{path}.scalar.quantile"),
                        q,
                        "0.5",
                        "1.0",
                    )));
                }
                Ok(Some(Quantization::Int8 { quantile: scalar.quantile, always_ram: scalar.always_ram }))
            }
            "binary" => {
                let binary: BinaryJson = field("binary", inner)?;
                let encoding = match binary.encoding.as_deref() {
                    None | Some("one_bit") => BinaryEncoding::OneBit,
                    Some("one_and_half_bits") => BinaryEncoding::OneAndHalfBits,
                    Some("two_bits") => BinaryEncoding::TwoBits,
                    Some(other) => return Err(bad(format!("binary encoding {other:?} is not supported"))),
                };
                let query_bits = match binary.query_encoding.as_deref() {
                    None | Some("default") | Some("binary") => 1,
                    Some("scalar4bits") => 4,
                    Some("scalar8bits") => 8,
                    Some(other) => {
                        return Err(bad(format!("binary query_encoding {other:?} is not supported")));
                    }
                };
                Ok(Some(Quantization::Binary { encoding, always_ram: binary.always_ram, query_bits }))
            }
            "product" => {
                let product: ProductJson = field("product", inner)?;
                let compression = product
                    .compression
                    .as_str()
                    .and_then(|c| COMPRESSIONS.iter().find(|(name, _)| *name == c))
                    .map(|(_, ratio)| *ratio)
                    .ok_or_else(|| {
                        bad(format!(
                            "product quantization: unknown compression {}, expected one of x4, x8, x16, x32, x64",
                            product.compression
                        ))
                    })?;
                Ok(Some(Quantization::Product { compression, always_ram: product.always_ram }))
            }
            other => Err(bad(format!("unknown quantization {other:?}"))),
        }
    }

    /// The effective quantization of a vector: its own `quantization_config`, else the
    /// collection's.
    pub fn effective(vector: Option<&Value>, collection: Option<&Value>) -> Option<Quantization> {
        vector.or(collection).and_then(|v| Quantization::parse(v).ok().flatten())
    }
}

/// `params.quantization` of a search, with Qdrant's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizationSearch {
    /// Search the original vectors only (default false).
    pub ignore: bool,
    /// Rescore the candidates with the original vectors (default true).
    pub rescore: bool,
    /// Candidates taken from the quantized vectors per result (at least 1, default 1).
    pub oversampling: f64,
}

impl Default for QuantizationSearch {
    fn default() -> Self {
        QuantizationSearch { ignore: false, rescore: true, oversampling: 1.0 }
    }
}

/// Unknown fields are ignored, as Qdrant's `QuantizationSearchParams` ignores them.
#[derive(Deserialize)]
struct SearchJson {
    #[serde(default)]
    ignore: Option<bool>,
    #[serde(default)]
    rescore: Option<bool>,
    #[serde(default)]
    oversampling: Option<f64>,
}

impl QuantizationSearch {
    /// Parses `params.quantization` (absent or null: the defaults): a value of the wrong type
    /// is `BadInput` (a format error), an `oversampling` below 1 a `Validation` issue (422).
    pub fn parse(value: Option<&Value>) -> Result<QuantizationSearch, TypesError> {
        let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(QuantizationSearch::default()) };
        let json: SearchJson = field("search", value)?;
        let oversampling = json.oversampling.unwrap_or(1.0);
        if oversampling.is_nan() || oversampling < 1.0 {
            let value = serde_json::Value::from(oversampling);
            let issue = crate::validation::at_least("params.quantization.oversampling", value, "1.0");
            return Err(TypesError::Validation(issue));
        }
        Ok(QuantizationSearch {
            ignore: json.ignore.unwrap_or(false),
            rescore: json.rescore.unwrap_or(true),
            oversampling,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_what_is_honoured_and_refuses_the_rest_by_name() {
        let int8 = Quantization::parse(&json!({"scalar": {"type": "int8", "quantile": 0.99, "always_ram": true}}));
        assert_eq!(int8.unwrap(), Some(Quantization::Int8 { quantile: Some(0.99), always_ram: Some(true) }));
        assert_eq!(
            Quantization::parse(&json!({"binary": {}})).unwrap(),
            Some(Quantization::Binary { encoding: BinaryEncoding::OneBit, always_ram: None, query_bits: 1 })
        );
        let asymmetric = Quantization::parse(&json!({"binary": {"query_encoding": "scalar8bits"}})).unwrap();
        let one_bit = BinaryEncoding::OneBit;
        assert_eq!(asymmetric, Some(Quantization::Binary { encoding: one_bit, always_ram: None, query_bits: 8 }));
        let four = Quantization::parse(&json!({"binary": {"encoding": "one_bit", "query_encoding": "scalar4bits"}}));
        assert_eq!(four.unwrap(), Some(Quantization::Binary { encoding: one_bit, always_ram: None, query_bits: 4 }));
        assert!(Quantization::parse(&json!({"binary": {"query_encoding": "scalar2bits"}})).is_err());
        assert_eq!(Quantization::parse(&json!("Disabled")).unwrap(), None);
        let product = Quantization::parse(&json!({"product": {"compression": "x16", "always_ram": true}}));
        assert_eq!(product.unwrap(), Some(Quantization::Product { compression: 16, always_ram: Some(true) }));
        for bad in [json!("x3"), json!("X16"), json!(16), json!(null)] {
            let e = Quantization::parse(&json!({"product": {"compression": bad}})).unwrap_err();
            assert!(e.to_string().contains("unknown compression"), "{e}");
        }
        assert!(Quantization::parse(&json!({"product": {}})).is_err());
        assert!(Quantization::parse(&json!({"product": {"compression": "x8", "bits": 4}})).is_err());
        assert!(Quantization::parse(&json!({"scalar": {"type": "int4"}})).is_err());
        // The issue alone: the `Validation error in JSON body` wrapping is the API's.
        assert_eq!(
            Quantization::parse(&json!({"scalar": {"type": "int8", "quantile": 0.2}})),
            Err(TypesError::Validation(
                "quantization_config.scalar.quantile: value 0.2 invalid, must be from 0.5 to 1.0".into()
            ))
        );
        // Elsewhere in the body the issue names where the setting is.
        let scalar = json!({"scalar": {"type": "int8", "quantile": 1.5}});
        for path in ["vectors.quantization_config", "vectors.image.quantization_config"] {
            assert_eq!(
                Quantization::parse_at(&scalar, path),
                Err(TypesError::Validation(format!(
                    "{path}.scalar.quantile: value 1.5 invalid, must be from 0.5 to 1.0"
                )))
            );
        }
        assert!(Quantization::parse(&json!({"binary": {"encoding": "three_bits"}})).is_err());
        assert!(Quantization::parse(&json!({"scalar": {"type": "int8"}, "binary": {}})).is_err());
    }

    #[test]
    fn parses_the_multi_bit_binary_encodings() {
        for (name, encoding) in
            [("two_bits", BinaryEncoding::TwoBits), ("one_and_half_bits", BinaryEncoding::OneAndHalfBits)]
        {
            for (query, query_bits) in [(None, 1), (Some("default"), 1), (Some("binary"), 1), (Some("scalar4bits"), 4)]
            {
                let mut binary = json!({"encoding": name, "always_ram": false});
                if let Some(query) = query {
                    binary["query_encoding"] = json!(query);
                }
                let parsed = Quantization::parse(&json!({ "binary": binary })).unwrap();
                assert_eq!(parsed, Some(Quantization::Binary { encoding, always_ram: Some(false), query_bits }));
            }
        }
        let e = Quantization::parse(&json!({"binary": {"encoding": "Two_Bits"}})).unwrap_err();
        assert!(e.to_string().contains("\"Two_Bits\" is not supported"), "{e}");
    }

    #[test]
    fn search_params_default_as_qdrant() {
        assert_eq!(QuantizationSearch::parse(None).unwrap(), QuantizationSearch::default());
        let p = QuantizationSearch::parse(Some(&json!({"rescore": false, "oversampling": 2.5}))).unwrap();
        assert_eq!((p.ignore, p.rescore, p.oversampling), (false, false, 2.5));
        // Qdrant's issue (422), without the `Validation error in JSON body` wrapping.
        for (oversampling, shown) in [(json!(0.5), "0.5"), (json!(0), "0.0"), (json!(-2.5), "-2.5")] {
            assert_eq!(
                QuantizationSearch::parse(Some(&json!({"oversampling": oversampling}))),
                Err(TypesError::Validation(format!(
                    "params.quantization.oversampling: value {shown} invalid, must be 1.0 or larger"
                )))
            );
        }
        assert!(QuantizationSearch::parse(Some(&json!({"oversampling": 1}))).is_ok());
        // A wrong type is a format error; an unknown field is ignored, as in Qdrant.
        assert!(matches!(QuantizationSearch::parse(Some(&json!({"rescore": "yes"}))), Err(TypesError::BadInput(_))));
        assert_eq!(QuantizationSearch::parse(Some(&json!({"bogus": 1}))), Ok(QuantizationSearch::default()));
    }
}
