//! The training loop every run shares: stretches of iterations that end on checkpoint (and
//! picture) boundaries, and what a checkpoint carries besides the trainer.

use std::path::Path;
use std::time::Instant;

use selfcond_gan::model::{ConditionalGenerator, Discriminator};
use selfcond_gan::rng::SeededRng;
use selfcond_gan::{BatchSource, Checkpoint, Trainer};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::RunResult;
use crate::options::{self, Given, RunOptions};
use crate::progress::Progress;

/// What a checkpoint of a run carries besides the trainer: enough to go on exactly.
#[derive(Serialize, Deserialize)]
pub struct RunState<A> {
    /// The example that wrote it (`ring`, `cifar10`, ...).
    pub dataset: String,
    /// The run's settings.
    pub args: A,
    /// The batch sampler's stream.
    pub batch_rng: SeededRng,
    /// Training seconds so far.
    pub seconds: f64,
}

/// The newest checkpoint of the run in `dir` and its state, refused when another example
/// wrote it.
fn open_run<A: DeserializeOwned>(
    dir: &Path,
    name: &str,
) -> Result<(Checkpoint, RunState<A>), Box<dyn std::error::Error>> {
    let checkpoint = Checkpoint::open_latest(dir)?;
    let state: RunState<A> = checkpoint.extra()?;
    if state.dataset != name {
        return Err(format!(
            "{} holds a {} run; resume it with the {} example",
            dir.display(),
            state.dataset,
            state.dataset
        )
        .into());
    }
    Ok((checkpoint, state))
}

/// A run to resume: its newest checkpoint and what that carries besides the trainer.
pub type Resumed<A> = (Checkpoint, RunState<A>);

/// The settings a run goes with, and the checkpoint it goes on from when resumed.
pub struct Prepared<A> {
    /// The settings, checked.
    pub args: A,
    /// With `--resume`: the newest checkpoint and its state.
    pub resumed: Option<Resumed<A>>,
}

/// The settings to run with, checked before any work: the command line's, or for `--resume`
/// the saved ones merged with the command line's overrides, with the checkpoint to go on from.
pub fn prepare<A: RunOptions>(
    args: A,
    given: &Given,
    name: &str,
) -> Result<Prepared<A>, Box<dyn std::error::Error>> {
    args.check()?;
    let Some(dir) = args.resume().map(Path::to_path_buf) else {
        return Ok(Prepared {
            args,
            resumed: None,
        });
    };
    let (checkpoint, state) = open_run::<A>(&dir, name)?;
    let merged = options::merge_resumed(&state.args, &args, given, A::OVERRIDABLE, &dir)?;
    merged.check()?;
    Ok(Prepared {
        args: merged,
        resumed: Some((checkpoint, state)),
    })
}

/// Where a stretch of training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundary {
    /// The iteration reached.
    pub iteration: usize,
    /// A checkpoint is due: at every `checkpoint_every` and at the end.
    pub checkpoint: bool,
    /// A picture is due: at every `picture_every`.
    pub picture: bool,
}

/// How long to train and where to stop on the way (an interval of 0: never, but a checkpoint
/// is always written at the end).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Total iterations.
    pub iters: usize,
    /// Iterations between checkpoints.
    pub checkpoint_every: usize,
    /// Iterations between progress pictures.
    pub picture_every: usize,
}

impl Schedule {
    /// The next boundary after iteration `done` (< `iters`).
    fn next(&self, done: usize) -> Boundary {
        let due = |every: usize, at: usize| every > 0 && at.is_multiple_of(every);
        let iteration = [self.checkpoint_every, self.picture_every]
            .iter()
            .filter(|&&every| every > 0)
            .map(|&every| done + every - done % every)
            .min()
            .unwrap_or(self.iters)
            .min(self.iters);
        Boundary {
            iteration,
            checkpoint: iteration == self.iters || due(self.checkpoint_every, iteration),
            picture: due(self.picture_every, iteration),
        }
    }
}

/// A data source whose batch sampler a checkpoint carries.
pub trait BatchStream {
    /// The batch sampler's stream.
    fn batch_rng(&self) -> &SeededRng;
    /// Puts back a saved stream.
    fn set_batch_rng(&mut self, rng: SeededRng);
}

/// What [`train`] needs to know of the run besides the trainer and the data.
pub struct RunContext<'a, A> {
    /// The example's name, saved in each checkpoint.
    pub name: &'a str,
    /// The run's settings, saved in each checkpoint.
    pub args: &'a A,
    /// The run directory.
    pub out: &'a Path,
    /// When to stop, checkpoint and draw.
    pub schedule: Schedule,
    /// Hide the progress bar.
    pub quiet: bool,
    /// When this process started on the run (before the trainer was built).
    pub started: Instant,
    /// Training seconds of the run's earlier processes.
    pub seconds_before: f64,
}

/// What a finished training reports.
pub struct Trained {
    /// Training seconds in all, earlier processes included.
    pub seconds: f64,
    /// Resident memory (MiB) every 1,000 iterations of this process.
    pub rss_mib: Vec<(usize, f64)>,
}

/// Trains up to the schedule's end with a progress bar, in stretches that end on boundaries:
/// `draw` is called where a picture is due, and a checkpoint is written where one is due (the
/// last stretch always ends with one).
pub fn train<G, M, const R: usize, S, A>(
    trainer: &mut Trainer<G, M, R>,
    data: &mut S,
    run: RunContext<'_, A>,
    mut draw: impl FnMut(&mut Trainer<G, M, R>, usize) -> RunResult,
) -> Result<Trained, Box<dyn std::error::Error>>
where
    G: ConditionalGenerator<R>,
    M: Discriminator<R>,
    S: BatchSource<R> + BatchStream,
    A: Serialize + Clone,
{
    let schedule = run.schedule;
    let mut progress = Progress::new(schedule.iters, trainer.iteration(), run.quiet)?;
    while trainer.iteration() < schedule.iters {
        let boundary = schedule.next(trainer.iteration());
        trainer.fit(
            data,
            boundary.iteration - trainer.iteration(),
            &mut progress,
        )?;
        if boundary.picture {
            draw(trainer, boundary.iteration)?;
        }
        if boundary.checkpoint {
            let state = RunState {
                dataset: run.name.to_string(),
                args: run.args.clone(),
                batch_rng: data.batch_rng().clone(),
                seconds: seconds_since(run.started, run.seconds_before),
            };
            trainer.save_checkpoint(run.out, &state)?;
        }
    }
    progress.bar.finish();
    Ok(Trained {
        seconds: seconds_since(run.started, run.seconds_before),
        rss_mib: progress.rss_mib,
    })
}

/// Seconds since `started`, plus those of the run's earlier processes.
fn seconds_since(started: Instant, before: f64) -> f64 {
    before + started.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boundaries(schedule: Schedule) -> Vec<(usize, bool, bool)> {
        let mut done = 0;
        let mut out = Vec::new();
        while done < schedule.iters {
            let b = schedule.next(done);
            out.push((b.iteration, b.checkpoint, b.picture));
            done = b.iteration;
        }
        out
    }

    #[test]
    fn stretches_end_on_every_boundary_and_the_last_checkpoints() {
        let plan = |iters, checkpoint_every, picture_every| Schedule {
            iters,
            checkpoint_every,
            picture_every,
        };
        assert_eq!(boundaries(plan(10, 0, 0)), [(10, true, false)]);
        assert_eq!(
            boundaries(plan(10, 4, 0)),
            [(4, true, false), (8, true, false), (10, true, false)]
        );
        assert_eq!(
            boundaries(plan(7, 4, 3)),
            [
                (3, false, true),
                (4, true, false),
                (6, false, true),
                (7, true, false)
            ]
        );
        assert_eq!(boundaries(plan(6, 3, 2))[2], (4, false, true));
        assert_eq!(
            boundaries(plan(6, 3, 3)),
            [(3, true, true), (6, true, true)]
        );
    }
}
