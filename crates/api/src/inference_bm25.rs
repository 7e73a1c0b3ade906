//! Qdrant's local `qdrant/bm25` model: a document's text becomes a sparse vector of BM25
//! term-frequency weights, a query's text one of unit weights on its unique tokens (design
//! record 050). The options are Qdrant's `Bm25Config`; the tokens come from the text index's
//! analyzer (`quiver_storage::text`), whose stages run in Qdrant's order; a token's index is the
//! murmur3 (x86, 32-bit, seed 0) hash of its UTF-8 bytes, read as `i32` and made non-negative.

use crate::error::ApiError;
use quiver_node::TextAnalyzer;
use quiver_types::SparseVector;
use quiver_types::index_params::{SnowballParams, Stemmer, Stopwords, StopwordsSet, TextParams, Tokenizer};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// How a text is embedded: as a stored document (`Update` in Qdrant) or as a query (`Search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Embedding {
    Document,
    Query,
}

/// Declares a language enum read by Qdrant's snake_case names and their aliases.
macro_rules! languages {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal | $alias:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub(crate) enum $name { $(#[serde(alias = $alias)] $variant,)* }

        impl $name {
            fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The language `text` names exactly (Qdrant's `from_str`: case matters).
            fn parse(text: &str) -> Option<$name> {
                match text { $($text | $alias => Some($name::$variant),)* _ => None }
            }
        }
    };
}

languages!(
    /// Qdrant's `Language`: the languages of the stopword lists.
    Language {
        Arabic = "arabic" | "ar", Azerbaijani = "azerbaijani" | "az", Basque = "basque" | "eu",
        Bengali = "bengali" | "bn", Catalan = "catalan" | "ca", Chinese = "chinese" | "zh",
        Danish = "danish" | "da", Dutch = "dutch" | "nl", English = "english" | "en",
        Finnish = "finnish" | "fi", French = "french" | "fr", German = "german" | "de",
        Greek = "greek" | "el", Hebrew = "hebrew" | "he", Hinglish = "hinglish" | "hi-en",
        Hungarian = "hungarian" | "hu", Indonesian = "indonesian" | "id", Italian = "italian" | "it",
        Japanese = "japanese" | "jp", Kazakh = "kazakh" | "kk", Nepali = "nepali" | "ne",
        Norwegian = "norwegian" | "no", Portuguese = "portuguese" | "pt", Romanian = "romanian" | "ro",
        Russian = "russian" | "ru", Slovene = "slovene" | "sl", Spanish = "spanish" | "es",
        Swedish = "swedish" | "sv", Tajik = "tajik" | "tg", Turkish = "turkish" | "tr",
    }
);

languages!(
    /// Qdrant's `SnowballLanguage`: the languages of the snowball stemmer.
    SnowballLanguage {
        Arabic = "arabic" | "ar", Armenian = "armenian" | "hy", Danish = "danish" | "da",
        Dutch = "dutch" | "nl", English = "english" | "en", Finnish = "finnish" | "fi",
        French = "french" | "fr", German = "german" | "de", Greek = "greek" | "el",
        Hungarian = "hungarian" | "hu", Italian = "italian" | "it", Norwegian = "norwegian" | "no",
        Portuguese = "portuguese" | "pt", Romanian = "romanian" | "ro", Russian = "russian" | "ru",
        Spanish = "spanish" | "es", Swedish = "swedish" | "sv", Tamil = "tamil" | "ta",
        Turkish = "turkish" | "tr",
    }
);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Snowball {
    Snowball,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum NoStemmer {
    None,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StemmingAlgorithm {
    Snowball {
        #[serde(rename = "type")]
        _kind: Snowball,
        language: SnowballLanguage,
    },
    Disabled {
        #[serde(rename = "type")]
        _kind: NoStemmer,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StopwordsInterface {
    Language(Language),
    Set {
        #[serde(default)]
        languages: Option<Vec<Language>>,
        #[serde(default)]
        custom: Option<Vec<String>>,
    },
}

/// Qdrant's `Bm25Config`: the `options` of a `qdrant/bm25` document. Unknown keys are ignored,
/// as Qdrant's flattened reading ignores them.
#[derive(Debug, Deserialize)]
struct Bm25Config {
    #[serde(default = "default_k")]
    k: f64,
    #[serde(default = "default_b")]
    b: f64,
    #[serde(default = "default_avg_len")]
    avg_len: f64,
    #[serde(default)]
    tokenizer: Tokenizer,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    lowercase: Option<bool>,
    #[serde(default)]
    ascii_folding: Option<bool>,
    #[serde(default)]
    stopwords: Option<StopwordsInterface>,
    #[serde(default)]
    stemmer: Option<StemmingAlgorithm>,
    #[serde(default)]
    min_token_len: Option<usize>,
    #[serde(default)]
    max_token_len: Option<usize>,
}

fn default_k() -> f64 {
    1.2
}

fn default_b() -> f64 {
    0.75
}

fn default_avg_len() -> f64 {
    256.0
}

/// The model, ready to embed texts.
pub(crate) struct Bm25 {
    k: f64,
    b: f64,
    avg_len: f64,
    analyzer: TextAnalyzer,
}

impl Bm25 {
    /// The model for a document's `options`; options Qdrant refuses are refused with its words.
    pub(crate) fn from_options(options: Map<String, Value>) -> Result<Bm25, ApiError> {
        let config: Bm25Config = serde_json::from_value(Value::Object(options))
            .map_err(|e| ApiError::bad_input(format!("Invalid BM25 config: {e:?}")))?;
        if !config.k.is_finite() || config.k < 0.0 {
            return Err(ApiError::bad_input(format!("BM25 k1 must be finite and >= 0, got {}", config.k)));
        }
        if !config.b.is_finite() || !(0.0..=1.0).contains(&config.b) {
            return Err(ApiError::bad_input(format!("BM25 b must be finite and in [0.0, 1.0], got {}", config.b)));
        }
        if !config.avg_len.is_finite() || config.avg_len <= 0.0 {
            return Err(ApiError::bad_input(format!(
                "BM25 avg_doc_len must be finite and > 0, got {}",
                config.avg_len
            )));
        }
        let params = text_params(&config)?;
        Ok(Bm25 { k: config.k, b: config.b, avg_len: config.avg_len, analyzer: TextAnalyzer::new(&params) })
    }

    /// `text` as a document (term-frequency weights) or as a query (unit weights).
    pub(crate) fn embed(&self, text: &str, embedding: Embedding) -> SparseVector {
        match embedding {
            Embedding::Document => self.document(&self.analyzer.index_tokens(text)),
            Embedding::Query => query(&self.analyzer.query_tokens(text)),
        }
    }

    /// Each distinct token with `n (k + 1) / (k (1 - b + b |d| / avg_len) + n)`, `n` its count
    /// and `|d|` the document's number of tokens; indices ascending.
    fn document(&self, tokens: &[String]) -> SparseVector {
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for token in tokens {
            *counts.entry(token.as_str()).or_default() += 1;
        }
        let doc_len = tokens.len() as f64;
        let norm = 1.0 - self.b + self.b * doc_len / self.avg_len;
        let weights: BTreeMap<u32, f32> = counts
            .into_iter()
            .map(|(token, count)| {
                let n = f64::from(count);
                (token_id(token), (n * (self.k + 1.0) / self.k.mul_add(norm, n)) as f32)
            })
            .collect();
        let (indices, values) = weights.into_iter().unzip();
        SparseVector { indices, values }
    }
}

/// The distinct token ids ascending, each with weight 1.
fn query(tokens: &[String]) -> SparseVector {
    let mut indices: Vec<u32> = tokens.iter().map(|t| token_id(t)).collect();
    indices.sort_unstable();
    indices.dedup();
    let values = vec![1.0; indices.len()];
    SparseVector { indices, values }
}

/// The analyzer settings of a config, with Qdrant's defaults: `language` English, whose
/// stopwords and snowball stemmer apply unless `stopwords` or `stemmer` say otherwise; a
/// language Qdrant does not know gives neither.
fn text_params(config: &Bm25Config) -> Result<TextParams, ApiError> {
    let language = config.language.as_deref().unwrap_or("english");
    let (languages, custom) = match &config.stopwords {
        None => (Language::parse(language).into_iter().collect(), Vec::new()),
        Some(StopwordsInterface::Language(l)) => (vec![*l], Vec::new()),
        Some(StopwordsInterface::Set { languages, custom }) => {
            (languages.clone().unwrap_or_default(), custom.clone().unwrap_or_default())
        }
    };
    let stemmer = match &config.stemmer {
        None => SnowballLanguage::parse(language),
        Some(StemmingAlgorithm::Snowball { language, .. }) => Some(*language),
        Some(StemmingAlgorithm::Disabled { .. }) => None,
    };
    if stemmer == Some(SnowballLanguage::Armenian) {
        return Err(ApiError::bad_input("Invalid BM25 config: Quiver has no Armenian stemmer"));
    }
    Ok(TextParams {
        tokenizer: Some(config.tokenizer),
        min_token_len: config.min_token_len,
        max_token_len: config.max_token_len,
        lowercase: Some(config.lowercase.unwrap_or(true)),
        ascii_folding: Some(config.ascii_folding.unwrap_or(false)),
        stopwords: Some(Stopwords::Set(StopwordsSet {
            languages: Some(languages.into_iter().map(|l| l.name().to_string()).collect()),
            custom: Some(custom),
        })),
        stemmer: stemmer.map(|l| Stemmer::Snowball(SnowballParams { language: l.name().to_string() })),
        ..TextParams::default()
    })
}

/// A token's index: its murmur3 hash (seed 0) as `i32`, made non-negative by its absolute value.
pub(crate) fn token_id(token: &str) -> u32 {
    (murmur3_32(token.as_bytes(), 0) as i32).unsigned_abs()
}

/// MurmurHash3 x86 32-bit.
pub(crate) fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut hash = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        hash ^= mix(u32::from_le_bytes([block[0], block[1], block[2], block[3]]));
        hash = hash.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail.iter().enumerate().fold(0u32, |k, (i, byte)| k | (u32::from(*byte) << (8 * i)));
        hash ^= mix(k);
    }
    hash ^= data.len() as u32;
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85eb_ca6b);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xc2b2_ae35);
    hash ^ (hash >> 16)
}

#[cfg(test)]
#[path = "inference_bm25_tests.rs"]
mod tests;
