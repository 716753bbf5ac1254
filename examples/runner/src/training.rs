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

/// The settings to run with, checked before any work: the command line's, or for `--resume`
/// the saved ones merged with the command line's overrides, with the checkpoint to go on from.
pub fn prepare<A: RunOptions>(
    args: A,
    given: &Given,
    name: &str,
) -> Result<(A, Option<Resumed<A>>), Box<dyn std::error::Error>> {
    args.check()?;
    let Some(dir) = args.resume().map(Path::to_path_buf) else {
        return Ok((args, None));
    };
    let (checkpoint, state) = open_run::<A>(&dir, name)?;
    let merged = options::merge_resumed(&state.args, &args, given, A::OVERRIDABLE, &dir)?;
    merged.check()?;
    Ok((merged, Some((checkpoint, state))))
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

/// Trains up to `schedule.iters`, calling `at_boundary` (to checkpoint, draw, ...) at the end
/// of each stretch; the last stretch always ends with a checkpoint due.
pub fn train<G, M, const R: usize, S: BatchSource<R>>(
    trainer: &mut Trainer<G, M, R>,
    data: &mut S,
    schedule: Schedule,
    progress: &mut Progress,
    mut at_boundary: impl FnMut(&mut Trainer<G, M, R>, &S, Boundary) -> RunResult,
) -> RunResult
where
    G: ConditionalGenerator<R>,
    M: Discriminator<R>,
{
    while trainer.iteration() < schedule.iters {
        let boundary = schedule.next(trainer.iteration());
        trainer.fit(data, boundary.iteration - trainer.iteration(), progress)?;
        at_boundary(trainer, data, boundary)?;
    }
    progress.bar.finish();
    Ok(())
}

/// Seconds since `started`, plus those of the run's earlier processes.
pub fn seconds_since(started: Instant, before: f64) -> f64 {
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
