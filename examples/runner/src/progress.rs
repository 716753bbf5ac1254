//! The progress bar and event log the examples draw while training (the library never prints).

use indicatif::{ProgressBar, ProgressStyle};
use selfcond_gan::{StepStats, TrainObserver};

/// Draws progress and refit events and samples memory use; the library itself never prints.
pub struct Progress {
    pub bar: ProgressBar,
    /// Resident memory (MiB) every 1,000 iterations.
    pub rss_mib: Vec<(usize, f64)>,
}

/// A bar of `len` steps in `template`'s style at `position`, its rate and ETA counted from
/// there; hidden with `quiet`.
pub fn bar(
    len: usize,
    position: usize,
    quiet: bool,
    template: &str,
) -> Result<ProgressBar, indicatif::style::TemplateError> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len as u64)
    };
    bar.set_style(ProgressStyle::with_template(template)?);
    bar.set_position(position as u64);
    bar.reset_eta();
    Ok(bar)
}

impl Progress {
    /// A bar for `total` iterations starting at `position` (hidden with `quiet`).
    pub fn new(
        total: usize,
        position: usize,
        quiet: bool,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let bar = bar(
            total,
            position,
            quiet,
            "{elapsed_precise} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta}) {msg}",
        )?;
        Ok(Self {
            bar,
            rss_mib: Vec::new(),
        })
    }

    /// Prints a line above the bar (or to stderr when the bar is hidden).
    pub fn println(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

/// Resident set size of this process in MiB, from /proc (None elsewhere).
pub fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

impl TrainObserver for Progress {
    fn on_step(&mut self, stats: &StepStats) {
        self.bar.inc(1);
        if stats.iteration.is_multiple_of(1000)
            && let Some(mib) = resident_mib()
        {
            self.rss_mib.push((stats.iteration, mib));
        }
        if let Some(l) = stats.losses {
            self.bar
                .set_message(format!("D {:.3}  G {:.3}", l.discriminator, l.generator));
        }
        if let Some(r) = &stats.recluster {
            let nonempty = r.sizes.iter().filter(|&&s| s > 0).count();
            let line = format!(
                "recluster @ {}: {:.1}% relabelled, {} non-empty clusters, {:.2}s",
                r.iteration,
                100.0 * r.changed_fraction.unwrap_or(1.0),
                nonempty,
                r.seconds
            );
            self.println(line);
        }
    }
}
