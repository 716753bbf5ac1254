//! The finished runs an evaluation reads: each directory's `metrics.json` (what was trained)
//! and `samples.npy` (what it generates), checked to be seeds of one setting.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// What a run's `metrics.json` says about the run.
pub struct Run {
    pub dir: PathBuf,
    /// `ring`, `grid`, `stacked_mnist` or `cifar10`.
    pub dataset: String,
    pub labels: String,
    pub k: u64,
    pub seed: u64,
    pub iterations: u64,
    /// Everything the training example wrote.
    pub metrics: Map<String, Value>,
}

impl Run {
    /// Reads `dir/metrics.json` and checks that `dir/samples.npy` exists.
    pub fn read(dir: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        let path = dir.join("metrics.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: {e} (a run directory holds the metrics.json and samples.npy a training \
                 example wrote)",
                path.display()
            )
        })?;
        let metrics: Map<String, Value> = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a run's metrics: {e}", path.display()))?;
        let samples = dir.join("samples.npy");
        if !samples.is_file() {
            return Err(format!("{}: missing; the run did not finish", samples.display()).into());
        }
        let text_field = |name: &str| {
            metrics
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{}: no `{name}`", path.display()))
        };
        let number = |name: &str| {
            metrics
                .get(name)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("{}: no `{name}`", path.display()))
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            dataset: text_field("dataset")?,
            labels: text_field("labels")?,
            k: number("k")?,
            seed: number("seed")?,
            iterations: number("iterations")?,
            metrics,
        })
    }

    /// A float the training example recorded, e.g. `cluster_nmi`.
    pub fn recorded(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).and_then(Value::as_f64)
    }

    /// The directory's name, for tables and file names.
    pub fn name(&self) -> String {
        self.dir.file_name().map_or_else(
            || self.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

/// Reads every run and checks they are one setting: the same data set, labels, k and
/// iterations (seeds may differ, and the same seed twice is refused).
pub fn read_setting(dirs: &[PathBuf]) -> Result<Vec<Run>, Box<dyn std::error::Error>> {
    let runs = dirs
        .iter()
        .map(|dir| Run::read(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = runs.first() else {
        return Err("no run directory given".into());
    };
    for run in &runs[1..] {
        let differs = [
            ("data set", &first.dataset, &run.dataset),
            ("labels", &first.labels, &run.labels),
        ]
        .into_iter()
        .map(|(what, a, b)| (what, a.clone(), b.clone()))
        .chain([
            ("k", first.k.to_string(), run.k.to_string()),
            (
                "iterations",
                first.iterations.to_string(),
                run.iterations.to_string(),
            ),
        ])
        .find(|(_, a, b)| a != b);
        if let Some((what, a, b)) = differs {
            return Err(format!(
                "runs of different settings in one table: {} has {what} {a}, {} has {b}",
                first.dir.display(),
                run.dir.display()
            )
            .into());
        }
    }
    for (i, run) in runs.iter().enumerate() {
        if let Some(other) = runs[..i].iter().find(|r| r.seed == run.seed) {
            return Err(format!(
                "{} and {} are both seed {}: a table row averages over different seeds",
                other.dir.display(),
                run.dir.display(),
                run.seed
            )
            .into());
        }
    }
    Ok(runs)
}
