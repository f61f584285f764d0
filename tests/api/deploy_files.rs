//! The compose stack's files, checked with the tools that read them (no container engine
//! runs here): Compose's own loader (`docker-compose config`), `haproxy -c`, `promtool`
//! on the Prometheus config and its alert rules' unit tests, and every metric the
//! dashboard and the alerts name against those the server exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path).to_string_lossy().into_owned()
}

/// Runs a checker from tests/setup.sh's packages; what it printed when it fails.
fn passes(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed (tests/setup.sh installs it): {e}"));
    let said =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{program} {args:?} refused the file:\n{said}");
    said
}

#[test]
fn compose_loads_the_stack_with_its_health_checks() {
    let services = passes("docker-compose", &["-f", &repo("docker-compose.yml"), "config", "--services"]);
    let services: BTreeSet<&str> = services.lines().collect();
    for service in ["db", "mail", "portcullis", "lb", "prometheus", "grafana"] {
        assert!(services.contains(service), "compose has no {service}: {services:?}");
    }
    let resolved = passes("docker-compose", &["-f", &repo("docker-compose.yml"), "config"]);
    assert!(resolved.contains("replicas: 2"), "fewer than two replicas:\n{resolved}");
    assert!(resolved.contains("condition: service_healthy"), "nothing waits for a healthy service");
}

#[test]
fn haproxy_accepts_its_config_and_checks_readyz() {
    let config = repo("deploy/haproxy/haproxy.cfg");
    passes("haproxy", &["-c", "-f", &config]);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("/readyz"), "the load balancer does not check /readyz");
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool() {
    let checked = passes("promtool", &["check", "config", &repo("deploy/prometheus/prometheus.yml")]);
    assert!(checked.contains("rules found"), "the config loads no rules:\n{checked}");
    passes("promtool", &["test", "rules", &repo("deploy/prometheus/portcullis_test.yml")]);
}

/// `portcullis_…` names in a text, with a histogram's `_bucket`/`_sum`/`_count` taken off.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("portcullis_") {
        let name: String =
            text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
        names.insert(base.to_owned());
    }
    names
}

#[test]
fn the_dashboard_and_alerts_name_only_metrics_the_server_exports() {
    let exported = std::fs::read_to_string(repo("src/metrics.rs")).unwrap();
    let dashboard = std::fs::read_to_string(repo("docs/grafana-dashboard.json")).unwrap();
    let dashboard_json: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(!dashboard_json["panels"].as_array().unwrap().is_empty());
    let rules = std::fs::read_to_string(repo("deploy/prometheus/rules/portcullis.yml")).unwrap();
    let named = metric_names(&dashboard).into_iter().chain(metric_names(&rules));
    let unknown: Vec<String> = named.filter(|name| !exported.contains(&format!("\"{name}\""))).collect();
    assert!(unknown.is_empty(), "named but not exported: {unknown:?}");
    for wanted in ["portcullis_refresh_reuse_detected_total", "portcullis_janitor_deleted_rows_total"] {
        assert!(dashboard.contains(wanted), "the dashboard lacks {wanted}");
    }
}
