//! One Markdown table row per setting: each metric as mean +- standard deviation over the runs
//! (the sample deviation, n - 1 in the denominator; a single run shows its value alone).

use serde_json::{Map, Value};

/// The metrics a row can show, in column order, with the decimals each is printed with.
const COLUMNS: &[(&str, &str, usize)] = &[
    ("modes", "modes", 1),
    ("high_quality_fraction", "high quality", 4),
    ("reverse_kl", "reverse KL", 4),
    ("reverse_kl_log10", "reverse KL (log10)", 4),
    ("fid", "FID", 2),
    ("is_mean", "IS", 2),
    ("kid_mean", "KID", 5),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
    ("density", "density", 3),
    ("coverage", "coverage", 3),
    ("cluster_nmi", "cluster NMI", 3),
    ("cluster_purity", "purity", 3),
    ("cluster_ari", "ARI", 3),
];

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.len() > 1)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, std)
}

/// The header, separator and row for `setting` over the runs' evaluations: the columns every
/// run has a number for.
pub fn markdown(setting: &str, evaluations: &[Map<String, Value>]) -> String {
    let columns: Vec<_> = COLUMNS
        .iter()
        .filter(|(key, _, _)| {
            evaluations
                .iter()
                .all(|e| e.get(*key).is_some_and(Value::is_number))
        })
        .collect();
    let mut header = String::from("| setting | runs |");
    let mut rule = String::from("|---|---|");
    let mut row = format!("| {setting} | {} |", evaluations.len());
    for (key, title, decimals) in columns {
        let values: Vec<f64> = evaluations
            .iter()
            .filter_map(|e| e.get(*key).and_then(Value::as_f64))
            .collect();
        let (mean, std) = mean_std(&values);
        header.push_str(&format!(" {title} |"));
        rule.push_str("---|");
        row.push_str(&match std {
            Some(std) => format!(" {mean:.decimals$} ± {std:.decimals$} |"),
            None => format!(" {mean:.decimals$} |"),
        });
    }
    format!("{header}\n{rule}\n{row}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_row_shows_mean_and_sample_deviation_of_the_metrics_all_runs_have() {
        let runs: Vec<Map<String, Value>> = [
            json!({"fid": 10.0, "precision": 0.5, "kid_mean": null}),
            json!({"fid": 14.0, "precision": 0.7}),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
        let table = markdown("cifar10 self_conditioned k=100", &runs);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| setting | runs | FID | precision |");
        // Sample deviation of (10, 14): sqrt(8) = 2.83; of (0.5, 0.7): 0.141.
        assert_eq!(
            lines[2],
            "| cifar10 self_conditioned k=100 | 2 | 12.00 ± 2.83 | 0.600 ± 0.141 |"
        );
        assert_eq!(mean_std(&[3.0]), (3.0, None));
    }
}
