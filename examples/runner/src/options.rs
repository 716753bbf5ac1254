//! Command-line options shared by the runs: checks that name the flag the user typed, and the
//! one way a resumed run merges this command line with the settings it was started with.

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use selfcond_gan::LabelMode;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What the shared run code needs of a run's options.
pub trait RunOptions: Serialize + DeserializeOwned {
    /// The options a resumed run takes from its command line, by clap id.
    const OVERRIDABLE: &'static [&'static str];
    /// The run directory to resume, if any.
    fn resume(&self) -> Option<&Path>;
    /// Rejects settings that cannot make a run, naming the flag, before any work.
    fn check(&self) -> Result<(), OptionError>;
}

/// A bad option, named as it is typed.
#[derive(Debug, thiserror::Error)]
#[error("--{flag}: {reason}")]
pub struct OptionError {
    /// The flag, without its dashes (`eval-samples`).
    pub flag: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

/// `Ok` when `ok`, otherwise an [`OptionError`] for `flag`.
pub fn require(ok: bool, flag: &'static str, reason: impl Into<String>) -> Result<(), OptionError> {
    match ok {
        true => Ok(()),
        false => Err(OptionError {
            flag,
            reason: reason.into(),
        }),
    }
}

/// `--flag` must be at least `min`.
pub fn at_least(flag: &'static str, value: usize, min: usize) -> Result<(), OptionError> {
    require(
        value >= min,
        flag,
        format!("must be at least {min}, got {value}"),
    )
}

/// `--ema-decay`, when given, must lie in [0, 1).
pub fn check_ema_decay(decay: Option<f64>) -> Result<(), OptionError> {
    match decay {
        Some(d) => require(
            (0.0..1.0).contains(&d),
            "ema-decay",
            format!("must lie in [0, 1), got {d}"),
        ),
        None => Ok(()),
    }
}

/// The checks every clustering run shares: `--k` at least 1 where clusters are used, and for
/// self-conditioning `--recluster-every` at least 1 and no more clusters than clustering
/// samples (`clustering` of them, set with `--{clustering_flag}`).
pub fn check_clusters(
    labels: LabelMode,
    k: usize,
    recluster_every: usize,
    (clustering_flag, clustering): (&'static str, usize),
) -> Result<(), OptionError> {
    at_least(clustering_flag, clustering, 1)?;
    if matches!(labels, LabelMode::SelfConditioned | LabelMode::Random) {
        at_least("k", k, 1)?;
    }
    if labels == LabelMode::SelfConditioned {
        at_least("recluster-every", recluster_every, 1)?;
        require(
            k <= clustering,
            "k",
            format!(
                "{k} clusters need at least as many clustering samples (--{clustering_flag} {clustering})"
            ),
        )?;
    }
    Ok(())
}

/// `runs/<name>-<labels>-seed<seed>`, where a run goes without `--out`.
pub fn default_out_dir(name: &str, labels: LabelMode, seed: u64) -> PathBuf {
    PathBuf::from(format!("runs/{name}-{labels:?}-seed{seed}").to_lowercase())
}

/// The options a command line gave explicitly, by clap id (the field's name).
#[derive(Debug, Clone, Default)]
pub struct Given(Vec<String>);

impl Given {
    fn from_matches(matches: &ArgMatches) -> Self {
        let ids = matches.ids().map(|id| id.as_str().to_string());
        Self(
            ids.filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
                .collect(),
        )
    }

    /// Whether the option with this id was given.
    pub fn contains(&self, id: &str) -> bool {
        self.0.iter().any(|given| given == id)
    }
}

/// Parses the command line into `A` (exiting with clap's message on bad arguments) and says
/// which options it gave.
pub fn parse<A: CommandFactory + FromArgMatches>() -> (A, Given) {
    let matches = A::command().get_matches();
    let args = A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (args, Given::from_matches(&matches))
}

/// The settings of a run resumed from `dir`: `saved`, except the options in `overridable`
/// that this command line gave, which come from `current`; `out` and `resume` become `dir`.
/// It works on the serialised settings, whose keys are the clap ids, so every run shares it.
pub fn merge_resumed<A: Serialize + DeserializeOwned>(
    saved: &A,
    current: &A,
    given: &Given,
    overridable: &[&str],
    dir: &Path,
) -> Result<A, serde_json::Error> {
    let current = serde_json::to_value(current)?;
    let mut merged = serde_json::to_value(saved)?;
    if let (Some(merged), Some(current)) = (merged.as_object_mut(), current.as_object()) {
        for &id in overridable.iter().filter(|id| given.contains(id)) {
            if let Some(value) = current.get(id) {
                merged.insert(id.to_string(), value.clone());
            }
        }
        let dir = serde_json::to_value(dir)?;
        merged.insert("out".into(), dir.clone());
        merged.insert("resume".into(), dir);
    }
    serde_json::from_value(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde::Deserialize;

    #[derive(Parser, Debug, Serialize, Deserialize, PartialEq)]
    struct Options {
        #[arg(long, default_value_t = 10)]
        iters: usize,
        #[arg(long, default_value_t = 3)]
        k: usize,
        #[arg(long)]
        quiet: bool,
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[arg(long)]
        resume: Option<std::path::PathBuf>,
    }

    fn parse_from(words: &[&str]) -> (Options, Given) {
        let matches = Options::command().get_matches_from(words);
        let options = Options::from_arg_matches(&matches).unwrap();
        (options, Given::from_matches(&matches))
    }

    #[test]
    fn a_resumed_run_keeps_its_settings_but_what_may_be_overridden_and_was_given() {
        let (saved, _) = parse_from(&["run", "--iters", "100", "--k", "7", "--out", "a"]);
        let (current, given) = parse_from(&["run", "--iters", "500", "--k", "2", "--resume", "a"]);
        assert!(given.contains("iters") && given.contains("k") && !given.contains("quiet"));
        let merged = merge_resumed(
            &saved,
            &current,
            &given,
            &["iters", "quiet"],
            Path::new("a"),
        )
        .unwrap();
        let expected = Options {
            iters: 500,
            k: 7, // not overridable
            quiet: false,
            out: Some("a".into()),
            resume: Some("a".into()),
        };
        assert_eq!(merged, expected);
        let (current, given) = parse_from(&["run", "--resume", "a"]);
        let merged = merge_resumed(&saved, &current, &given, &["iters"], Path::new("a")).unwrap();
        assert_eq!(
            merged.iters, 100,
            "an option not given keeps its saved value"
        );
    }

    #[test]
    fn errors_name_the_flag() {
        let message = at_least("eval-samples", 0, 1).unwrap_err().to_string();
        assert_eq!(message, "--eval-samples: must be at least 1, got 0");
        assert!(check_ema_decay(Some(1.0)).is_err() && check_ema_decay(Some(0.999)).is_ok());
    }
}
