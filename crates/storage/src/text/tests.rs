use super::*;
use quiver_types::index_params::FieldSchema;
use serde_json::json;

fn analyzer(params: serde_json::Value) -> TextAnalyzer {
    TextAnalyzer::new(&FieldSchema::parse(&params).unwrap().text_params().unwrap())
}

fn q(a: &TextAnalyzer, text: &str) -> Vec<String> {
    a.words(text)
}

#[test]
fn word_tokenizer_lowercases_and_matches_all_any_phrase() {
    let a = analyzer(json!("text"));
    assert_eq!(a.words("Hello, World! x-ray"), ["hello", "world", "x", "ray"]);
    let doc = "The quick brown fox";
    assert!(a.matches(TextMode::All, &q(&a, "fox QUICK"), doc));
    assert!(!a.matches(TextMode::All, &q(&a, "fox cat"), doc));
    assert!(a.matches(TextMode::Any, &q(&a, "fox cat"), doc));
    assert!(a.matches(TextMode::Phrase, &q(&a, "quick brown"), doc));
    assert!(!a.matches(TextMode::Phrase, &q(&a, "brown quick"), doc));
    assert!(!a.matches(TextMode::All, &q(&a, "qui"), doc), "a word is not a substring match");
}

#[test]
fn case_is_kept_without_lowercase() {
    let a = analyzer(json!({"type": "text", "lowercase": false, "tokenizer": "whitespace"}));
    assert!(!a.matches(TextMode::All, &q(&a, "hello"), "Hello there"));
    assert!(a.matches(TextMode::All, &q(&a, "Hello"), "Hello there"));
}

#[test]
fn prefix_tokenizer_matches_word_starts() {
    let a = analyzer(json!({"type": "text", "tokenizer": "prefix", "min_token_len": 2, "max_token_len": 4}));
    assert_eq!(a.index_tokens("hello"), ["he", "hel", "hell"]);
    assert!(a.matches(TextMode::All, &q(&a, "hel"), "hello world"));
    assert!(!a.matches(TextMode::All, &q(&a, "ello"), "hello world"));
}

#[test]
fn stopwords_and_stemmer() {
    let a = analyzer(json!({"type": "text", "stopwords": {"languages": ["english"], "custom": ["Foo"]},
        "stemmer": {"type": "snowball", "language": "english"}}));
    assert_eq!(a.words("The running foo dogs"), ["run", "dog"]);
    assert!(a.matches(TextMode::All, &q(&a, "runs dog"), "a dog was running"));
    assert!(!a.matches(TextMode::All, &q(&a, "the"), "the end"), "a query of stopwords matches nothing");
}

#[test]
fn multilingual_splits_cjk_per_character() {
    let a = analyzer(json!({"type": "text", "tokenizer": "multilingual"}));
    assert_eq!(a.words("東京タワー and Straße"), ["東", "京", "タ", "ワ", "ー", "and", "straße"]);
    assert!(a.matches(TextMode::Phrase, &q(&a, "東京"), "私は東京に住む"));
}

#[test]
fn ascii_folding() {
    let a = analyzer(json!({"type": "text", "ascii_folding": true}));
    assert!(a.matches(TextMode::All, &q(&a, "cafe"), "Café au lait"));
}

#[test]
fn query_tokens_of_prefix_keep_stopwords_and_are_cut_to_the_longest_prefix() {
    let a = analyzer(json!({"type": "text", "tokenizer": "prefix", "max_token_len": 3, "stopwords": "english"}));
    assert_eq!(a.query_tokens("The hello"), ["the", "hel"]);
    assert_eq!(a.words("The hello"), ["hello"], "document words drop stopwords");
    let w = analyzer(json!({"type": "text", "stopwords": "english"}));
    assert_eq!(w.query_tokens("The hello"), ["hello"], "other tokenizers: the words");
}

#[test]
fn folding_runs_before_lowercase() {
    let a = analyzer(json!({"type": "text", "ascii_folding": true, "lowercase": true}));
    assert_eq!(a.words("ÉCOLE Ñandú"), ["ecole", "nandu"]);
}
