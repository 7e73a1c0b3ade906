//! Full-text analysis of a `text` payload index (Qdrant's `field_index_params` for text):
//! tokenizers `word`, `whitespace`, `prefix` and `multilingual`, `lowercase`, `ascii_folding`,
//! token length bounds, stopwords and a snowball stemmer. A filter's `text`, `text_any` and
//! `phrase` conditions on an indexed text field are evaluated on these tokens (all tokens, any
//! token, consecutive tokens); without an index, on the tokens of Qdrant's default processing
//! (`word`, lowercase: design record 051).

mod stopwords;

use quiver_types::index_params::{Stemmer, Stopwords, TextParams, Tokenizer};
use std::collections::HashSet;
use std::fmt;

/// The text analyzers of a table's text indexes, by field key.
pub type TextIndexes = std::collections::BTreeMap<String, std::sync::Arc<TextAnalyzer>>;

/// How the query's tokens must appear among a document's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMode {
    /// `text`: every token.
    All,
    /// `text_any`: at least one token.
    Any,
    /// `phrase`: the tokens in order, next to each other.
    Phrase,
}

/// The analyzer of one text index.
pub struct TextAnalyzer {
    tokenizer: Tokenizer,
    lowercase: bool,
    ascii_folding: bool,
    min_token_len: usize,
    max_token_len: Option<usize>,
    stopwords: HashSet<String>,
    stemmer: Option<rust_stemmers::Stemmer>,
}

impl fmt::Debug for TextAnalyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextAnalyzer")
            .field("tokenizer", &self.tokenizer)
            .field("lowercase", &self.lowercase)
            .field("stemmer", &self.stemmer.is_some())
            .finish_non_exhaustive()
    }
}

fn algorithm(language: &str) -> Option<rust_stemmers::Algorithm> {
    use rust_stemmers::Algorithm as A;
    Some(match language.to_lowercase().as_str() {
        "arabic" => A::Arabic,
        "danish" => A::Danish,
        "dutch" => A::Dutch,
        "english" => A::English,
        "finnish" => A::Finnish,
        "french" => A::French,
        "german" => A::German,
        "greek" => A::Greek,
        "hungarian" => A::Hungarian,
        "italian" => A::Italian,
        "norwegian" => A::Norwegian,
        "portuguese" => A::Portuguese,
        "romanian" => A::Romanian,
        "russian" => A::Russian,
        "spanish" => A::Spanish,
        "swedish" => A::Swedish,
        "tamil" => A::Tamil,
        "turkish" => A::Turkish,
        _ => return None,
    })
}

impl TextAnalyzer {
    /// The analyzer for validated parameters (unknown languages were refused before).
    pub fn new(params: &TextParams) -> TextAnalyzer {
        let lowercase = params.lowercase.unwrap_or(true);
        let mut stopwords = HashSet::new();
        let (languages, custom): (Vec<&String>, Vec<&String>) = match &params.stopwords {
            None => (Vec::new(), Vec::new()),
            Some(Stopwords::Language(l)) => (vec![l], Vec::new()),
            Some(Stopwords::Set(set)) => {
                (set.languages.iter().flatten().collect(), set.custom.iter().flatten().collect())
            }
        };
        for language in languages {
            stopwords.extend(stopwords::of_language(language).unwrap_or_default().iter().map(|w| w.to_string()));
        }
        stopwords.extend(custom.into_iter().map(|w| if lowercase { w.to_lowercase() } else { w.clone() }));
        let stemmer = params.stemmer.as_ref().and_then(|s| match s {
            Stemmer::Snowball(p) => algorithm(&p.language).map(rust_stemmers::Stemmer::create),
        });
        TextAnalyzer {
            tokenizer: params.tokenizer.unwrap_or_default(),
            lowercase,
            ascii_folding: params.ascii_folding.unwrap_or(false),
            min_token_len: params.min_token_len.unwrap_or(0),
            max_token_len: params.max_token_len,
            stopwords,
            stemmer,
        }
    }

    /// The words of `text` in order, normalised (case, folding, stopwords, stem, length).
    pub fn words(&self, text: &str) -> Vec<String> {
        let raw = split(self.tokenizer, text);
        raw.into_iter().filter_map(|w| self.normalise(w)).collect()
    }

    /// Qdrant's order: folding, lowercase, stopwords, stem, then the length bounds.
    fn normalise(&self, word: &str) -> Option<String> {
        let word = self.folded_lowercase(word);
        if self.stopwords.contains(&word) {
            return None;
        }
        let word = self.stemmed(word);
        let len = word.chars().count();
        let too_long = self.tokenizer != Tokenizer::Prefix && self.max_token_len.is_some_and(|max| len > max);
        (len >= self.min_token_len.max(1) && !too_long).then_some(word)
    }

    fn folded_lowercase(&self, word: &str) -> String {
        let word: String = if self.ascii_folding { word.chars().map(fold).collect() } else { word.to_string() };
        if self.lowercase { word.to_lowercase() } else { word }
    }

    fn stemmed(&self, word: String) -> String {
        match &self.stemmer {
            Some(stemmer) => stemmer.stem(&word).into_owned(),
            None => word,
        }
    }

    /// The tokens of a query text as Qdrant's `tokenize_query` gives them: the words, except with
    /// the `prefix` tokenizer, whose query words keep their stopwords (a query may be a word
    /// still being typed) and are cut to `max_token_len` characters.
    pub fn query_tokens(&self, text: &str) -> Vec<String> {
        if self.tokenizer != Tokenizer::Prefix {
            return self.words(text);
        }
        let min = self.min_token_len.max(1);
        let cut = |word: String| match self.max_token_len {
            Some(max) => word.chars().take(max).collect(),
            None => word,
        };
        let words = split(Tokenizer::Prefix, text).into_iter();
        words.map(|w| self.stemmed(self.folded_lowercase(w))).filter(|w| w.chars().count() >= min).map(cut).collect()
    }

    /// The tokens a document is indexed under: its words, and with the `prefix` tokenizer every
    /// prefix of each word from `min_token_len` to `max_token_len` characters.
    pub fn index_tokens(&self, text: &str) -> Vec<String> {
        let words = self.words(text);
        if self.tokenizer != Tokenizer::Prefix {
            return words;
        }
        let mut out = Vec::new();
        for word in words {
            let chars: Vec<char> = word.chars().collect();
            let max = self.max_token_len.unwrap_or(chars.len()).min(chars.len());
            for len in self.min_token_len.max(1)..=max {
                out.push(chars[..len].iter().collect());
            }
        }
        out
    }

    /// Whether a document `text` holds the query's `tokens` (already analysed) as `mode` asks.
    pub fn matches(&self, mode: TextMode, query: &[String], text: &str) -> bool {
        if query.is_empty() {
            return false;
        }
        let words = self.words(text);
        let has = |q: &String, w: &String| match self.tokenizer {
            Tokenizer::Prefix => w.starts_with(q.as_str()),
            Tokenizer::Word | Tokenizer::Whitespace | Tokenizer::Multilingual => w == q,
        };
        let contains = |q: &String| words.iter().any(|w| has(q, w));
        match mode {
            TextMode::All => query.iter().all(contains),
            TextMode::Any => query.iter().any(contains),
            TextMode::Phrase => {
                words.windows(query.len()).any(|window| window.iter().zip(query).all(|(w, q)| has(q, w)))
            }
        }
    }

    /// Whether index lookups of query words are exact (not with the prefix tokenizer, whose
    /// query words may be longer than the indexed prefixes).
    pub fn lookups_are_exact(&self) -> bool {
        self.tokenizer != Tokenizer::Prefix
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF | 0x20000..=0x2FA1F)
}

/// Splits `text` into raw words.
fn split(tokenizer: Tokenizer, text: &str) -> Vec<&str> {
    match tokenizer {
        Tokenizer::Whitespace => text.split_whitespace().collect(),
        Tokenizer::Word | Tokenizer::Prefix => {
            text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
        }
        Tokenizer::Multilingual => {
            let mut out = Vec::new();
            let mut start: Option<usize> = None;
            for (i, c) in text.char_indices() {
                let in_word = c.is_alphanumeric() && !is_cjk(c);
                match (in_word, start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        out.push(&text[s..i]);
                        start = None;
                    }
                    (true, Some(_)) | (false, None) => {}
                }
                if is_cjk(c) {
                    out.push(&text[i..i + c.len_utf8()]);
                }
            }
            if let Some(s) = start {
                out.push(&text[s..]);
            }
            out
        }
    }
}

/// Latin letters with diacritics → their ASCII base letter.
fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' => 'A',
        'ç' | 'ć' | 'č' => 'c',
        'Ç' | 'Ć' | 'Č' => 'C',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ę' | 'Ě' => 'E',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' => 'I',
        'ñ' | 'ń' | 'ň' => 'n',
        'Ñ' | 'Ń' | 'Ň' => 'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' => 'O',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => 'u',
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' => 'Y',
        'ś' | 'š' => 's',
        'Ś' | 'Š' => 'S',
        'ź' | 'ż' | 'ž' => 'z',
        'Ź' | 'Ż' | 'Ž' => 'Z',
        'ł' => 'l',
        'Ł' => 'L',
        other => other,
    }
}

#[cfg(test)]
mod tests;
