//! Building Prometheus metric families (the `prometheus` crate's model; its encoder writes the
//! text format).

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

pub fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| {
            let mut label = LabelPair::default();
            label.set_name((*name).to_string());
            label.set_value((*value).to_string());
            label
        })
        .collect()
}

pub fn gauge(value: f64, pairs: &[(&str, &str)]) -> Metric {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::from_gauge(gauge);
    metric.set_label(labels(pairs));
    metric
}

pub fn counter(value: f64, pairs: &[(&str, &str)]) -> Metric {
    let mut counter = Counter::default();
    counter.set_value(value);
    let mut metric = Metric::default();
    metric.set_counter(counter);
    metric.set_label(labels(pairs));
    metric
}

/// The families being rendered, in order; empty families are left out (the encoder refuses them).
#[derive(Default)]
pub struct Families(pub Vec<MetricFamily>);

impl Families {
    pub fn push(&mut self, name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) {
        if metrics.is_empty() {
            return;
        }
        let mut family = MetricFamily::default();
        family.set_name(name.to_string());
        family.set_help(help.to_string());
        family.set_field_type(kind);
        family.set_metric(metrics);
        self.0.push(family);
    }

    pub fn gauge(&mut self, name: &str, help: &str, metrics: Vec<Metric>) {
        self.push(name, help, MetricType::GAUGE, metrics);
    }

    pub fn counter(&mut self, name: &str, help: &str, metrics: Vec<Metric>) {
        self.push(name, help, MetricType::COUNTER, metrics);
    }

    /// One unlabelled gauge.
    pub fn single(&mut self, name: &str, help: &str, value: f64) {
        self.gauge(name, help, vec![gauge(value, &[])]);
    }
}
