//! `GET /logger` and `POST /logger` (design record 046): the process's log filter read and
//! changed at run time through the reload handle the server installs. Qdrant's body is its
//! `logger` configuration: `log_level` (a tracing filter: `INFO`, `info,quiver_node=debug`),
//! `span_events`, `color` and `on_disk`. Quiver changes `log_level`; it prints no span events,
//! chooses colour as the terminal allows and writes no log file, so it reports those unset and
//! refuses a body that sets them.

use crate::error::ApiError;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// Installs a filter (its directives) in the running subscriber; `Err` for invalid directives.
pub type ApplyFilter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The `on_disk` part of Qdrant's logger configuration: a log file, configured in its file only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OnDiskLogger {
    pub enabled: Option<bool>,
    pub log_file: Option<String>,
    pub log_level: Option<String>,
    pub format: Option<serde_json::Value>,
    pub span_events: Option<serde_json::Value>,
    pub buffer_size_bytes: Option<usize>,
}

/// Qdrant's `LoggerConfig` as `GET /logger` shows it and `POST /logger` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggerConfig {
    pub log_level: Option<String>,
    pub span_events: Option<Vec<SpanEvent>>,
    pub color: Option<Color>,
    pub on_disk: OnDiskLogger,
}

/// Qdrant's span event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanEvent {
    New,
    Enter,
    Exit,
    Close,
}

/// Qdrant's colour choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Auto,
    Enable,
    Disable,
}

/// The directives of a configured level: openraft logs every election step at INFO, so it is
/// kept to warnings unless the filter asks for debug or trace, or names openraft itself.
pub fn directives(level: &str) -> String {
    let lower = level.trim().to_lowercase();
    match lower.as_str() {
        "debug" | "trace" => lower,
        _ if lower.contains("openraft") => lower,
        _ => format!("{lower},openraft=warn"),
    }
}

/// The logger of the process: its configuration and the way to change its filter.
pub struct LogControl {
    config: parking_lot::Mutex<LoggerConfig>,
    apply: ApplyFilter,
}

impl LogControl {
    /// The logger started with `log_level` (its directives already installed).
    pub fn new(log_level: &str, apply: ApplyFilter) -> LogControl {
        let config = LoggerConfig { log_level: Some(log_level.to_string()), ..LoggerConfig::default() };
        LogControl { config: parking_lot::Mutex::new(config), apply }
    }

    /// A logger whose changes reach no subscriber (in-process tests).
    pub fn detached(log_level: &str) -> LogControl {
        LogControl::new(log_level, Box::new(|_| Ok(())))
    }

    pub fn config(&self) -> LoggerConfig {
        self.config.lock().clone()
    }

    /// Applies `update`: a `log_level` replaces the filter; what Quiver cannot change is refused
    /// (400) and nothing is changed then.
    pub fn update(&self, update: LoggerConfig) -> Result<(), ApiError> {
        let refuse = |what: &str| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("Bad request: Quiver's logger cannot change {what}"))
        };
        if update.span_events.as_ref().is_some_and(|events| !events.is_empty()) {
            return Err(refuse("span_events"));
        }
        if update.color.is_some_and(|c| c != Color::Auto) {
            return Err(refuse("color"));
        }
        if update.on_disk.enabled == Some(true) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Bad request: failed to enable logging into log-file: log file is not specified (it can only be specified in the config file)",
            ));
        }
        let mut config = self.config.lock();
        if let Some(level) = update.log_level {
            (self.apply)(&directives(&level)).map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, format!("Bad request: invalid log_level {level:?}: {e}"))
            })?;
            config.log_level = Some(level);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recording() -> (LogControl, Arc<Mutex<Vec<String>>>) {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let apply: ApplyFilter = Box::new(move |d| match d.contains("bogus") {
            true => Err("unknown level".into()),
            false => {
                sink.lock().unwrap().push(d.to_string());
                Ok(())
            }
        });
        (LogControl::new("INFO", apply), seen)
    }

    #[test]
    fn a_level_replaces_the_filter_and_is_reported() {
        let (logger, seen) = recording();
        assert_eq!(logger.config().log_level.as_deref(), Some("INFO"));
        logger.update(LoggerConfig { log_level: Some("debug".into()), ..Default::default() }).unwrap();
        logger.update(LoggerConfig { log_level: Some("warn,quiver_node=info".into()), ..Default::default() }).unwrap();
        assert_eq!(*seen.lock().unwrap(), ["debug", "warn,quiver_node=info,openraft=warn"]);
        assert_eq!(logger.config().log_level.as_deref(), Some("warn,quiver_node=info"));
        // A body without a level changes nothing.
        logger.update(LoggerConfig::default()).unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn what_quiver_cannot_change_is_refused_and_nothing_changes() {
        let (logger, seen) = recording();
        let bad_level = LoggerConfig { log_level: Some("bogus".into()), ..Default::default() };
        assert_eq!(logger.update(bad_level).unwrap_err().status, StatusCode::BAD_REQUEST);
        let spans = LoggerConfig {
            span_events: Some(vec![SpanEvent::Close]),
            log_level: Some("debug".into()),
            ..Default::default()
        };
        assert_eq!(logger.update(spans).unwrap_err().status, StatusCode::BAD_REQUEST);
        let color = LoggerConfig { color: Some(Color::Enable), ..Default::default() };
        assert!(logger.update(color).unwrap_err().message.contains("color"));
        let file =
            LoggerConfig { on_disk: OnDiskLogger { enabled: Some(true), ..Default::default() }, ..Default::default() };
        assert!(logger.update(file).unwrap_err().message.contains("log file is not specified"));
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(logger.config().log_level.as_deref(), Some("INFO"));
    }

    #[test]
    fn openraft_stays_at_warnings_unless_asked() {
        assert_eq!(directives("INFO"), "info,openraft=warn");
        assert_eq!(directives("trace"), "trace");
        assert_eq!(directives("info,openraft=debug"), "info,openraft=debug");
    }
}
