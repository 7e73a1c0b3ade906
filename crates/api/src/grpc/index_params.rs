//! Payload index parameters between gRPC (`PayloadIndexParams`) and REST's field schema JSON,
//! which the node validates and stores; parameters Quiver does not have are refused by name.

use crate::grpc::collections_in::memory as memory_in;
use crate::grpc::collections_out::memory_out;
use qdrant_client::qdrant as pb;
use quiver_types::index_params::{
    FieldParams, FieldSchema, IntegerParams, KeywordParams, NumericParams, PlainParams, SnowballParams, Stemmer,
    Stopwords, StopwordsSet, TextParams, Tokenizer,
};
use serde_json::Value;
use tonic::Status;

fn refuse(what: &str) -> Status {
    Status::invalid_argument(format!("Wrong input: payload index parameter `{what}` is not supported by Quiver"))
}

/// Refuses the parameters of newer clients that Quiver does not implement.
fn unsupported(nested: &Option<String>) -> Result<(), Status> {
    match nested {
        Some(_) => Err(refuse("nested")),
        None => Ok(()),
    }
}

#[allow(deprecated)]
fn params_in(params: pb::payload_index_params::IndexParams) -> Result<FieldParams, Status> {
    use pb::payload_index_params::IndexParams as P;
    Ok(match params {
        P::KeywordIndexParams(p) => {
            unsupported(&p.nested)?;
            if p.prefix.is_some() {
                return Err(refuse("prefix"));
            }
            FieldParams::Keyword(KeywordParams {
                is_tenant: p.is_tenant,
                on_disk: p.on_disk,
                enable_hnsw: p.enable_hnsw,
                memory: memory_in(p.memory),
            })
        }
        P::UuidIndexParams(p) => {
            unsupported(&p.nested)?;
            FieldParams::Uuid(KeywordParams {
                is_tenant: p.is_tenant,
                on_disk: p.on_disk,
                enable_hnsw: p.enable_hnsw,
                memory: memory_in(p.memory),
            })
        }
        P::IntegerIndexParams(p) => {
            unsupported(&p.nested)?;
            FieldParams::Integer(IntegerParams {
                lookup: p.lookup,
                range: p.range,
                is_principal: p.is_principal,
                on_disk: p.on_disk,
                enable_hnsw: p.enable_hnsw,
                memory: memory_in(p.memory),
            })
        }
        P::FloatIndexParams(p) => {
            unsupported(&p.nested)?;
            FieldParams::Float(NumericParams {
                is_principal: p.is_principal,
                on_disk: p.on_disk,
                enable_hnsw: p.enable_hnsw,
                memory: memory_in(p.memory),
            })
        }
        P::DatetimeIndexParams(p) => {
            unsupported(&p.nested)?;
            FieldParams::Datetime(NumericParams {
                is_principal: p.is_principal,
                on_disk: p.on_disk,
                enable_hnsw: p.enable_hnsw,
                memory: memory_in(p.memory),
            })
        }
        P::GeoIndexParams(p) => {
            unsupported(&p.nested)?;
            FieldParams::Geo(PlainParams {
                on_disk: p.on_disk,
                enable_hnsw: p.enable_hnsw,
                memory: memory_in(p.memory),
            })
        }
        P::BoolIndexParams(p) => {
            unsupported(&p.nested)?;
            FieldParams::Bool(PlainParams {
                on_disk: p.on_disk,
                enable_hnsw: p.enable_hnsw,
                memory: memory_in(p.memory),
            })
        }
        P::TextIndexParams(p) => FieldParams::Text(text_in(p)?),
    })
}

#[allow(deprecated)]
fn text_in(p: pb::TextIndexParams) -> Result<TextParams, Status> {
    unsupported(&p.nested)?;
    if p.scoring.is_some() {
        return Err(refuse("scoring"));
    }
    let tokenizer = match pb::TokenizerType::try_from(p.tokenizer) {
        Ok(pb::TokenizerType::Unknown) => None,
        Ok(pb::TokenizerType::Prefix) => Some(Tokenizer::Prefix),
        Ok(pb::TokenizerType::Whitespace) => Some(Tokenizer::Whitespace),
        Ok(pb::TokenizerType::Word) => Some(Tokenizer::Word),
        Ok(pb::TokenizerType::Multilingual) => Some(Tokenizer::Multilingual),
        Ok(pb::TokenizerType::Code) | Err(_) => return Err(refuse("tokenizer")),
    };
    let stemmer = match p.stemmer.and_then(|s| s.stemming_params) {
        Some(pb::stemming_algorithm::StemmingParams::Snowball(s)) => {
            Some(Stemmer::Snowball(SnowballParams { language: s.language }))
        }
        Some(pb::stemming_algorithm::StemmingParams::Disabled(_)) | None => None,
    };
    let stopwords = p.stopwords.map(|s| {
        Stopwords::Set(StopwordsSet {
            languages: (!s.languages.is_empty()).then_some(s.languages),
            custom: (!s.custom.is_empty()).then_some(s.custom),
        })
    });
    Ok(TextParams {
        tokenizer,
        min_token_len: p.min_token_len.map(|n| n as usize),
        max_token_len: p.max_token_len.map(|n| n as usize),
        lowercase: p.lowercase,
        ascii_folding: p.ascii_folding,
        phrase_matching: p.phrase_matching,
        stopwords,
        stemmer,
        on_disk: p.on_disk,
        enable_hnsw: p.enable_hnsw,
        memory: memory_in(p.memory),
    })
}

fn type_name(t: i32) -> Result<&'static str, Status> {
    Ok(match pb::FieldType::try_from(t) {
        Ok(pb::FieldType::Keyword) => "keyword",
        Ok(pb::FieldType::Integer) => "integer",
        Ok(pb::FieldType::Float) => "float",
        Ok(pb::FieldType::Geo) => "geo",
        Ok(pb::FieldType::Text) => "text",
        Ok(pb::FieldType::Bool) => "bool",
        Ok(pb::FieldType::Datetime) => "datetime",
        Ok(pb::FieldType::Uuid) => "uuid",
        Err(_) => return Err(Status::invalid_argument(format!("Wrong input: unknown field type {t}"))),
    })
}

/// The field schema in REST's form: the params object when given, else the type name.
pub fn field_schema(field_type: Option<i32>, params: Option<pb::PayloadIndexParams>) -> Result<Option<Value>, Status> {
    let params = params.and_then(|p| p.index_params).map(params_in).transpose()?;
    let name = field_type.map(type_name).transpose()?;
    let Some(params) = params else { return Ok(name.map(|n| serde_json::json!(n))) };
    let schema = FieldSchema::Params(params);
    if let Some(name) = name
        && schema.data_type().as_str() != name
    {
        return Err(Status::invalid_argument(format!(
            "Wrong input: field_type {name} does not match the index params of type {}",
            schema.data_type().as_str()
        )));
    }
    serde_json::to_value(&schema).map(Some).map_err(|e| Status::internal(e.to_string()))
}

/// The stored params of a field schema (REST's `params`), for `PayloadSchemaInfo`.
#[allow(deprecated)]
pub fn params_out(params: Option<&Value>) -> Option<pb::PayloadIndexParams> {
    use pb::payload_index_params::IndexParams as P;
    let FieldSchema::Params(params) = FieldSchema::parse(params?).ok()? else { return None };
    let index_params = match params {
        FieldParams::Keyword(p) => P::KeywordIndexParams(pb::KeywordIndexParams {
            is_tenant: p.is_tenant,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            memory: memory_out(p.memory),
            ..Default::default()
        }),
        FieldParams::Uuid(p) => P::UuidIndexParams(pb::UuidIndexParams {
            is_tenant: p.is_tenant,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            memory: memory_out(p.memory),
            ..Default::default()
        }),
        FieldParams::Integer(p) => P::IntegerIndexParams(pb::IntegerIndexParams {
            lookup: p.lookup,
            range: p.range,
            is_principal: p.is_principal,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            memory: memory_out(p.memory),
            ..Default::default()
        }),
        FieldParams::Float(p) => P::FloatIndexParams(pb::FloatIndexParams {
            is_principal: p.is_principal,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            memory: memory_out(p.memory),
            ..Default::default()
        }),
        FieldParams::Datetime(p) => P::DatetimeIndexParams(pb::DatetimeIndexParams {
            is_principal: p.is_principal,
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            memory: memory_out(p.memory),
            ..Default::default()
        }),
        FieldParams::Geo(p) => P::GeoIndexParams(pb::GeoIndexParams {
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            memory: memory_out(p.memory),
            ..Default::default()
        }),
        FieldParams::Bool(p) => P::BoolIndexParams(pb::BoolIndexParams {
            on_disk: p.on_disk,
            enable_hnsw: p.enable_hnsw,
            memory: memory_out(p.memory),
            ..Default::default()
        }),
        FieldParams::Text(p) => P::TextIndexParams(text_out(p)),
    };
    Some(pb::PayloadIndexParams { index_params: Some(index_params) })
}

#[allow(deprecated)]
fn text_out(p: TextParams) -> pb::TextIndexParams {
    let tokenizer = match p.tokenizer.unwrap_or_default() {
        Tokenizer::Word => pb::TokenizerType::Word,
        Tokenizer::Whitespace => pb::TokenizerType::Whitespace,
        Tokenizer::Prefix => pb::TokenizerType::Prefix,
        Tokenizer::Multilingual => pb::TokenizerType::Multilingual,
    };
    let stopwords = p.stopwords.map(|s| match s {
        Stopwords::Language(l) => pb::StopwordsSet { languages: vec![l], custom: Vec::new() },
        Stopwords::Set(s) => {
            pb::StopwordsSet { languages: s.languages.unwrap_or_default(), custom: s.custom.unwrap_or_default() }
        }
    });
    let stemmer = p.stemmer.map(|Stemmer::Snowball(s)| pb::StemmingAlgorithm {
        stemming_params: Some(pb::stemming_algorithm::StemmingParams::Snowball(pb::SnowballParams {
            language: s.language,
        })),
    });
    pb::TextIndexParams {
        tokenizer: tokenizer as i32,
        lowercase: p.lowercase,
        min_token_len: p.min_token_len.map(|n| n as u64),
        max_token_len: p.max_token_len.map(|n| n as u64),
        on_disk: p.on_disk,
        stopwords,
        phrase_matching: p.phrase_matching,
        stemmer,
        ascii_folding: p.ascii_folding,
        enable_hnsw: p.enable_hnsw,
        memory: memory_out(p.memory),
        ..Default::default()
    }
}
