//! The training loop: one discriminator step then one generator step per iteration, with the
//! conditioning labels supplied by a [`LabelMode`].

use std::path::PathBuf;

use burn::module::{ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::host;
use crate::model::{ConditionalGenerator, Discriminator, device_of};
use crate::rng::{SeededRng, int_tensor, normal_tensor, seeded};
use crate::selfcond::{ReclusterReport, SelfCondConfig, SelfConditioner};
use crate::weight_average::WeightAverage;

/// Where the class labels of a batch come from. All four run through the same trainer, so the
/// baselines differ from the method in the labels only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LabelMode {
    /// Clusters of the discriminator's features (the method).
    #[default]
    SelfConditioned,
    /// Ground-truth labels carried by each batch.
    Supervised,
    /// A single class: the plain GAN baseline (`k` must be 1).
    Unconditional,
    /// Labels drawn uniformly at random, unrelated to the data.
    Random,
}

impl std::str::FromStr for LabelMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "selfcond" | "self_conditioned" => Ok(Self::SelfConditioned),
            "supervised" => Ok(Self::Supervised),
            "unconditional" => Ok(Self::Unconditional),
            "random" => Ok(Self::Random),
            other => Err(Error::config(
                "labels",
                format!("`{other}` is not one of selfcond, supervised, unconditional, random"),
            )),
        }
    }
}

/// Optimisation settings. Defaults are the paper's 2D settings.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Clustering settings; `selfcond.k` is the number of classes in every mode.
    pub selfcond: SelfCondConfig,
    /// Label source.
    #[config(default = "LabelMode::SelfConditioned")]
    pub labels: LabelMode,
    /// Adam learning rate of both networks.
    #[config(default = 1e-4)]
    pub learning_rate: f64,
    /// Adam beta 1.
    #[config(default = 0.8)]
    pub beta1: f32,
    /// Adam beta 2.
    #[config(default = 0.999)]
    pub beta2: f32,
    /// Adam epsilon (PyTorch's default; Burn's own default is 1e-5).
    #[config(default = 1e-8)]
    pub epsilon: f32,
    /// Losses are read back (a device synchronisation) every this many iterations.
    #[config(default = 100)]
    pub log_every: usize,
    /// Seed of the trainer's stream (latents, random labels, k-means).
    #[config(default = 0)]
    pub seed: u64,
    /// Keep an exponential moving average of G's weights with this decay (0.999 is usual) and
    /// sample from it ([`Trainer::generate`], checkpoints' [`crate::Checkpoint::generator`]).
    /// `None`, the paper's setting, samples from the trained weights themselves. Training is
    /// the same either way.
    pub ema_decay: Option<f64>,
}

impl TrainConfig {
    /// Rejects settings that cannot train.
    pub fn check(&self) -> Result<()> {
        self.selfcond.check()?;
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::config(
                "learning_rate",
                "must be finite and positive",
            ));
        }
        for (field, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(Error::config(field, "must lie in [0, 1)"));
            }
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::config("epsilon", "must be finite and positive"));
        }
        if self.log_every == 0 {
            return Err(Error::config("log_every", "must be at least 1"));
        }
        if let Some(decay) = self.ema_decay {
            crate::weight_average::check_decay(decay)?;
        }
        if self.labels == LabelMode::Unconditional && self.selfcond.k != 1 {
            return Err(Error::config(
                "selfcond.k",
                "must be 1 for unconditional training",
            ));
        }
        Ok(())
    }

    /// The optimiser [`Trainer`] builds for each network on `device`: Burn's Adam with these
    /// settings, on flex computed in one pass per tensor with the same results. Public so that
    /// profiles time the optimiser training runs.
    pub fn adam(&self, device: &Device) -> ModuleOptimizer {
        crate::ops::adam(self.beta1, self.beta2, self.epsilon, device)
    }
}

/// One batch of real data.
#[derive(Debug, Clone)]
pub struct Batch<const R: usize> {
    /// Samples `[B, ...]` on the training (autodiff) device.
    pub samples: Tensor<R>,
    /// Ground-truth classes, needed by [`LabelMode::Supervised`] only.
    pub labels: Option<Vec<i64>>,
}

/// Supplies real batches to [`Trainer::fit`].
pub trait BatchSource<const R: usize> {
    /// The next batch, on `device`.
    fn next_batch(&mut self, device: &Device) -> Result<Batch<R>>;
}

/// Losses read back from the device.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Losses {
    /// Discriminator loss (real + fake BCE).
    pub discriminator: f64,
    /// Generator loss (non-saturating).
    pub generator: f64,
}

/// What one training iteration did.
#[derive(Debug, Clone)]
pub struct StepStats {
    /// Iterations completed, this one included.
    pub iteration: usize,
    /// Losses of this iteration, when it was a logging iteration.
    pub losses: Option<Losses>,
    /// The refit that ran before this iteration, if any.
    pub recluster: Option<ReclusterReport>,
}

/// Hooks called by [`Trainer::fit`]; the library never prints, observers decide.
pub trait TrainObserver {
    /// After every iteration.
    fn on_step(&mut self, _stats: &StepStats) {}
}

impl TrainObserver for () {}

/// Holds G, D, their optimisers and the label source, and runs the GAN game.
pub struct Trainer<G, M, const R: usize> {
    pub(crate) generator: G,
    pub(crate) discriminator: M,
    pub(crate) optim_g: ModuleOptimizer,
    pub(crate) optim_d: ModuleOptimizer,
    pub(crate) conditioner: Option<SelfConditioner<M, R>>,
    pub(crate) config: TrainConfig,
    pub(crate) rng: SeededRng,
    pub(crate) iteration: usize,
    /// The average of G's weights, when [`TrainConfig::ema_decay`] asks for one.
    pub(crate) average: Option<WeightAverage<G>>,
    /// Detached losses of the last iteration, checked before a checkpoint is written.
    last_losses: Option<(Tensor<1>, Tensor<1>)>,
    /// The newest checkpoint written or resumed from, named when training diverges.
    pub(crate) last_checkpoint: Option<PathBuf>,
}

impl<G, M, const R: usize> Trainer<G, M, R>
where
    G: ConditionalGenerator<R>,
    M: Discriminator<R>,
{
    /// Builds a trainer. Both networks must live on an autodiff device. Self-conditioning
    /// needs `clustering_set`, on which the first clustering runs now; its report is returned.
    pub fn new(
        config: TrainConfig,
        generator: G,
        discriminator: M,
        clustering_set: Option<Tensor<R>>,
    ) -> Result<(Self, Option<ReclusterReport>)> {
        config.check()?;
        let k = config.selfcond.k;
        for (what, got) in [
            ("generator classes vs k", generator.num_classes()),
            ("discriminator classes vs k", discriminator.num_classes()),
        ] {
            if got != k {
                return Err(Error::DimensionMismatch {
                    what,
                    expected: k,
                    got,
                });
            }
        }
        let mut rng = seeded(config.seed);
        let (conditioner, report) = match config.labels {
            LabelMode::SelfConditioned => {
                let set = clustering_set.ok_or(Error::Empty {
                    what: "clustering set (required for self-conditioning)",
                })?;
                let (c, r) =
                    SelfConditioner::new(config.selfcond.clone(), set, &discriminator, &mut rng)?;
                (Some(c), Some(r))
            }
            _ => (None, None),
        };
        let (optim_g, optim_d) = (
            config.adam(&device_of(&generator)),
            config.adam(&device_of(&discriminator)),
        );
        let average = config
            .ema_decay
            .map(|decay| WeightAverage::new(&generator, decay))
            .transpose()?;
        Ok((
            Self {
                generator,
                discriminator,
                optim_g,
                optim_d,
                conditioner,
                config,
                rng,
                iteration: 0,
                average,
                last_losses: None,
                last_checkpoint: None,
            },
            report,
        ))
    }

    /// Reassembles a trainer from saved state (see [`crate::checkpoint`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        config: TrainConfig,
        generator: G,
        discriminator: M,
        optim_g: ModuleOptimizer,
        optim_d: ModuleOptimizer,
        conditioner: Option<SelfConditioner<M, R>>,
        rng: SeededRng,
        iteration: usize,
        average: Option<WeightAverage<G>>,
        last_checkpoint: Option<PathBuf>,
    ) -> Self {
        Self {
            generator,
            discriminator,
            optim_g,
            optim_d,
            conditioner,
            config,
            rng,
            iteration,
            average,
            last_losses: None,
            last_checkpoint,
        }
    }

    /// The newest checkpoint this trainer wrote or was resumed from.
    pub fn last_checkpoint(&self) -> Option<&std::path::Path> {
        self.last_checkpoint.as_deref()
    }

    /// Iterations completed.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The generator being trained.
    pub fn generator(&self) -> &G {
        &self.generator
    }

    /// The moving average of the generator's weights (on the inference device), when
    /// [`TrainConfig::ema_decay`] is set. [`Self::generate`] samples from it.
    pub fn averaged_generator(&self) -> Option<&G> {
        self.average.as_ref().map(WeightAverage::module)
    }

    /// The discriminator being trained.
    pub fn discriminator(&self) -> &M {
        &self.discriminator
    }

    /// The self-conditioner, in [`LabelMode::SelfConditioned`].
    pub fn conditioner(&self) -> Option<&SelfConditioner<M, R>> {
        self.conditioner.as_ref()
    }

    /// The configuration in force.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// One iteration: refit if due, label the batch, one D step, one G step.
    pub fn step(&mut self, batch: Batch<R>) -> Result<StepStats> {
        let recluster = match &mut self.conditioner {
            Some(c) if c.is_due(self.iteration) => {
                Some(c.recluster(&self.discriminator, self.iteration, &mut self.rng)?)
            }
            _ => None,
        };

        let real = batch.samples;
        let size = real.dims()[0];
        if size == 0 {
            return Err(Error::Empty { what: "batch" });
        }
        let device = real.device();
        let classes = self.batch_classes(&real, batch.labels, &device)?;
        // One draw of latents for both steps, as the reference code does: G is updated against
        // the very fakes D has just learned to reject. G does not change in the D step, so one
        // forward pass serves both: its values feed the D step, its graph the G step (the
        // reference runs G twice on the same `z`).
        let z = self.sample_latents(size, &device);
        let fake = self.generator.forward(z, classes.clone());
        let d_loss = self.update_discriminator(real, fake.clone().detach(), classes.clone());
        let g_loss = self.update_generator(fake, classes);
        if let Some(average) = &mut self.average {
            average.update(&self.generator)?;
        }

        self.iteration += 1;
        let (d_loss, g_loss) = (d_loss.detach(), g_loss.detach());
        self.last_losses = Some((d_loss.clone(), g_loss.clone()));
        let losses = if self.iteration.is_multiple_of(self.config.log_every) {
            Some(self.read_losses(d_loss, g_loss)?)
        } else {
            None
        };
        Ok(StepStats {
            iteration: self.iteration,
            losses,
            recluster,
        })
    }

    /// `n` latent codes `[n, latent_dim]`, standard normal, from the trainer's seeded stream.
    pub fn sample_latents(&mut self, n: usize, device: &Device) -> Tensor<2> {
        normal_tensor(&mut self.rng, n, self.generator.latent_dim(), device)
    }

    /// One discriminator update on `real` and the detached fakes `G(z, classes)`, both
    /// conditioned on `classes`. Returns the loss (not read back). The generator's parameters
    /// are untouched. `real`, `z` and `classes` must hold the same number of rows (Burn panics
    /// otherwise); [`Trainer::step`] draws `z` with [`Trainer::sample_latents`].
    pub fn discriminator_step(
        &mut self,
        real: Tensor<R>,
        z: Tensor<2>,
        classes: Tensor<1, Int>,
    ) -> Tensor<1> {
        // No graph is recorded for a forward pass no gradient flows back through.
        let fake = without_gradients(&self.generator).forward(z, classes.clone());
        self.update_discriminator(real, fake, classes)
    }

    /// One generator update with the non-saturating loss on the fakes `G(z, classes)`.
    /// Returns the loss (not read back). The discriminator's parameters are untouched. `z` and
    /// `classes` must hold the same number of rows. The weight average
    /// ([`TrainConfig::ema_decay`]) moves in [`Self::step`] only.
    pub fn generator_step(&mut self, z: Tensor<2>, classes: Tensor<1, Int>) -> Tensor<1> {
        let fake = self.generator.forward(z, classes.clone());
        self.update_generator(fake, classes)
    }

    /// The D update on `real` and the untracked `fake`.
    fn update_discriminator(
        &mut self,
        real: Tensor<R>,
        fake: Tensor<R>,
        classes: Tensor<1, Int>,
    ) -> Tensor<1> {
        let size = real.dims()[0];
        let (d_real, d_fake) = if self.discriminator.is_per_sample() {
            let scores = self.discriminator.forward(
                Tensor::cat(vec![real, fake], 0),
                Tensor::cat(vec![classes.clone(), classes], 0),
            );
            (scores.clone().slice(0..size), scores.slice(size..2 * size))
        } else {
            (
                self.discriminator.forward(real, classes.clone()),
                self.discriminator.forward(fake, classes),
            )
        };
        let loss = -log_sigmoid(d_real).mean() - log_sigmoid(-d_fake).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &self.discriminator);
        self.discriminator =
            self.optim_d
                .step(self.config.learning_rate, self.discriminator.clone(), grads);
        loss
    }

    /// The G update through `fake`, which must carry G's graph.
    fn update_generator(&mut self, fake: Tensor<R>, classes: Tensor<1, Int>) -> Tensor<1> {
        // D's parameter gradients would be thrown away; not recording them skips a
        // weight-gradient convolution per layer of D's backward pass.
        let frozen_discriminator = without_gradients(&self.discriminator);
        let loss = -log_sigmoid(frozen_discriminator.forward(fake, classes)).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        self.generator =
            self.optim_g
                .step(self.config.learning_rate, self.generator.clone(), grads);
        loss
    }

    /// Classes of a batch under the configured [`LabelMode`], on the batch's device.
    pub fn classes_for(&mut self, batch: &Batch<R>) -> Result<Tensor<1, Int>> {
        let device = batch.samples.device();
        self.batch_classes(&batch.samples, batch.labels.clone(), &device)
    }

    /// Runs `iterations` steps on batches from `source`, calling `observer` after each.
    pub fn fit<S: BatchSource<R>>(
        &mut self,
        source: &mut S,
        iterations: usize,
        observer: &mut impl TrainObserver,
    ) -> Result<()> {
        let device = self
            .generator
            .devices()
            .first()
            .cloned()
            .unwrap_or_default();
        for _ in 0..iterations {
            let batch = source.next_batch(&device)?;
            let stats = self.step(batch)?;
            observer.on_step(&stats);
        }
        Ok(())
    }

    /// `n` class labels for sampling, drawn as training draws them: the empirical cluster
    /// distribution when self-conditioned, uniform otherwise.
    pub fn sample_classes(&mut self, n: usize) -> Vec<i64> {
        match &self.conditioner {
            Some(c) => c.sample_labels(n, &mut self.rng),
            None => {
                let k = self.config.selfcond.k;
                (0..n)
                    .map(|_| rand::Rng::random_range(&mut self.rng, 0..k) as i64)
                    .collect()
            }
        }
    }

    /// Generates one sample per class in `classes`, in inference mode, `chunk` at a time, with
    /// latents from the trainer's own stream, from the averaged weights when
    /// [`TrainConfig::ema_decay`] is set. Returns samples on the inference (non-autodiff)
    /// device.
    pub fn generate(&mut self, classes: &[i64], chunk: usize) -> Result<Tensor<R>> {
        let mut rng = self.rng.clone();
        let samples = self.generate_with(classes, chunk, &mut rng);
        self.rng = rng;
        samples
    }

    /// As [`Self::generate`], with latents drawn from `rng`: a fixed stream gives the same
    /// latents at every call (progress grids), and training's stream is left untouched.
    pub fn generate_with(
        &self,
        classes: &[i64],
        chunk: usize,
        rng: &mut SeededRng,
    ) -> Result<Tensor<R>> {
        let generator = match &self.average {
            Some(average) => average.module().clone(),
            None => self.generator.valid(),
        };
        let device = crate::model::device_of(&generator);
        check_labels(classes, self.config.selfcond.k)?;
        let parts: Vec<Tensor<R>> = classes
            .chunks(chunk.max(1))
            .map(|part| {
                let z = normal_tensor(rng, part.len(), generator.latent_dim(), &device);
                generator.forward(z, int_tensor(part.to_vec(), &device))
            })
            .collect();
        if parts.is_empty() {
            return Err(Error::Empty { what: "classes" });
        }
        Ok(Tensor::cat(parts, 0))
    }

    fn batch_classes(
        &mut self,
        real: &Tensor<R>,
        truth: Option<Vec<i64>>,
        device: &Device,
    ) -> Result<Tensor<1, Int>> {
        let size = real.dims()[0];
        let k = self.config.selfcond.k;
        let host_labels = match self.config.labels {
            LabelMode::SelfConditioned => {
                let conditioner = self.conditioner.as_ref().ok_or(Error::Empty {
                    what: "self-conditioner",
                })?;
                return Ok(conditioner.labels(real.clone()));
            }
            LabelMode::Supervised => {
                let labels = truth.ok_or(Error::MissingLabels)?;
                if labels.len() != size {
                    return Err(Error::DimensionMismatch {
                        what: "labels vs batch size",
                        expected: size,
                        got: labels.len(),
                    });
                }
                check_labels(&labels, k)?;
                labels
            }
            LabelMode::Unconditional => vec![0; size],
            LabelMode::Random => (0..size)
                .map(|_| rand::Rng::random_range(&mut self.rng, 0..k) as i64)
                .collect(),
        };
        Ok(int_tensor(host_labels, device))
    }

    fn read_losses(&self, d_loss: Tensor<1>, g_loss: Tensor<1>) -> Result<Losses> {
        let discriminator = host::scalar(d_loss.detach())?;
        let generator = host::scalar(g_loss.detach())?;
        for (what, value) in [
            ("discriminator loss", discriminator),
            ("generator loss", generator),
        ] {
            if !value.is_finite() {
                return Err(Error::Diverged {
                    iteration: self.iteration,
                    what,
                    last_checkpoint: self.last_checkpoint.clone(),
                });
            }
        }
        Ok(Losses {
            discriminator,
            generator,
        })
    }

    /// [`Error::Diverged`] if the last iteration's losses are not finite.
    pub(crate) fn ensure_last_losses_finite(&self) -> Result<()> {
        match &self.last_losses {
            Some((d_loss, g_loss)) => self.read_losses(d_loss.clone(), g_loss.clone()).map(|_| ()),
            None => Ok(()),
        }
    }
}

/// [`Error::LabelOutOfRange`] for the first label outside `0..k`.
pub(crate) fn check_labels(labels: &[i64], k: usize) -> Result<()> {
    match labels.iter().find(|&&l| l < 0 || l as usize >= k) {
        Some(&label) => Err(Error::LabelOutOfRange { label, k }),
        None => Ok(()),
    }
}

/// A copy of `module` whose parameters record no gradients; the original is left as it is.
///
/// Burn 0.22.1 keeps a lazily initialised parameter's require-grad flag in the state all its
/// clones share, so `no_grad` on a clone of a never-used module would freeze the original too
/// (its BatchNorm scales and shifts would stop training). Reading every parameter first
/// initialises it, after which `no_grad` changes the copy only.
fn without_gradients<M: Module + Clone>(module: &M) -> M {
    struct Initialise;
    impl ModuleVisitor for Initialise {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Initialise);
    module.clone().no_grad()
}
