//! The `app` object of `GET /telemetry`, with the fields of Qdrant's `AppBuildTelemetry`:
//! `name`, `version`, `jwt_rbac` (when configured) and `startup` always; `features` and
//! `system` from details level 1. Every value is what this process knows of itself; what it
//! cannot tell (the disk size) is `null`, and Qdrant's engine-specific parts Quiver has no
//! counterpart for (`runtime_features`, `hnsw_global_config`, `hide_jwt_dashboard`) are left
//! out, as Qdrant leaves out unset ones.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};

/// What telemetry reports of the running process, fixed at start-up.
#[derive(Debug, Clone)]
pub struct AppInfo {
    /// When the process started (to the hundredth of a second, as Qdrant shows it).
    pub startup: DateTime<Utc>,
    /// `service.jwt_rbac` as configured (`None`: not set, and not shown).
    pub jwt_rbac: Option<bool>,
}

impl AppInfo {
    /// The process starting now with `service.jwt_rbac` = `jwt_rbac`.
    pub fn starting_now(jwt_rbac: Option<bool>) -> AppInfo {
        AppInfo { startup: Utc::now().round_subsecs(2), jwt_rbac }
    }
}

/// The `app` object at details level `level`.
pub(crate) fn app(version: &str, info: &AppInfo, level: usize) -> Value {
    let mut app = json!({"name": "qdrant", "version": version});
    if level >= 1 {
        app["features"] = json!({
            "debug": cfg!(debug_assertions),
            "service_debug_feature": false,
            "recovery_mode": false,
            "gpu": false,
            "rocksdb": false,
        });
        app["system"] = system();
    }
    if let Some(jwt_rbac) = info.jwt_rbac {
        app["jwt_rbac"] = json!(jwt_rbac);
    }
    app["startup"] = json!(info.startup);
    app
}

/// The running environment: OS release, container, cores, memory (KiB), CPU flags, byte order.
fn system() -> Value {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let cores = std::thread::available_parallelism().ok().map(|n| n.get());
    let ram_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| mem_total_kib(&m));
    json!({
        "distribution": os_release_field(&release, "ID"),
        "distribution_version": os_release_field(&release, "VERSION_ID"),
        "is_docker": std::path::Path::new("/.dockerenv").exists(),
        "cores": cores,
        "ram_size": ram_kib,
        "disk_size": null,
        "cpu_flags": cpu_flags().join(","),
        "cpu_endian": if cfg!(target_endian = "little") { "little" } else { "big" },
    })
}

/// `KEY=value` (quotes removed) of an os-release file.
fn os_release_field(release: &str, key: &str) -> Option<String> {
    release.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

/// `MemTotal` of `/proc/meminfo`, in KiB.
fn mem_total_kib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The SIMD features this CPU has, by Qdrant's names.
fn cpu_flags() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut flags = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let detected = [
            ("sse", std::arch::is_x86_feature_detected!("sse")),
            ("sse2", std::arch::is_x86_feature_detected!("sse2")),
            ("avx", std::arch::is_x86_feature_detected!("avx")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("f16c", std::arch::is_x86_feature_detected!("f16c")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
            ("avx512vpopcntdq", std::arch::is_x86_feature_detected!("avx512vpopcntdq")),
        ];
        flags.extend(detected.iter().filter(|(_, on)| *on).map(|(name, _)| *name));
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            flags.push("neon");
        }
        if std::arch::is_aarch64_feature_detected!("fp16") {
            flags.push("fp16");
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_zero_has_name_version_and_startup_only() {
        let info = AppInfo::starting_now(None);
        let app = app("1.19.0", &info, 0);
        let mut keys: Vec<&str> = app.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["name", "startup", "version"]);
        let startup: DateTime<Utc> = serde_json::from_value(app["startup"].clone()).unwrap();
        assert_eq!(startup, info.startup);
    }

    #[test]
    fn level_one_adds_features_and_system_and_jwt_rbac_shows_when_set() {
        let app = app("1.19.0", &AppInfo::starting_now(Some(true)), 1);
        assert_eq!(app["jwt_rbac"], json!(true));
        assert_eq!(app["features"]["debug"], json!(cfg!(debug_assertions)));
        assert_eq!(app["features"]["gpu"], json!(false));
        let cores = app["system"]["cores"].as_u64().unwrap();
        assert_eq!(cores as usize, std::thread::available_parallelism().unwrap().get());
        assert!(app["system"]["cpu_endian"] == "little" || app["system"]["cpu_endian"] == "big");
        #[cfg(target_arch = "x86_64")]
        assert!(app["system"]["cpu_flags"].as_str().unwrap().split(',').any(|f| f == "sse2"));
    }

    #[test]
    fn os_release_and_meminfo_are_read_as_written() {
        let release = "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(os_release_field(release, "ID").as_deref(), Some("debian"));
        assert_eq!(os_release_field(release, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(os_release_field(release, "VERSION"), None);
        assert_eq!(mem_total_kib("MemTotal:       16318704 kB\nMemFree: 1 kB\n"), Some(16318704));
        assert_eq!(mem_total_kib("MemFree: 1 kB\n"), None);
    }
}
