//! Reading the trained parts of a checkpoint for inference, without the training state: the
//! generator, the discriminator and the frozen clusters.

use super::{Checkpoint, DISCRIMINATOR, GENERATOR, GENERATOR_AVERAGE, SNAPSHOT};
use crate::error::{Error, Result};
use crate::model::{ConditionalGenerator, Discriminator};
use crate::selfcond::Clusters;

impl Checkpoint {
    /// The generator to sample from, loaded into `generator` (which gives the architecture and
    /// the device; its parameters are all overwritten): the moving average of its weights when
    /// the run kept one ([`crate::TrainConfig::ema_decay`]), else the trained weights.
    ///
    /// [`Error::CheckpointMismatch`] if the architecture differs from the checkpoint's.
    pub fn generator<G: ConditionalGenerator<R>, const R: usize>(&self, generator: G) -> Result<G> {
        self.check_generator(&generator)?;
        match self.manifest.config.ema_decay {
            Some(_) => self.load_module(generator, GENERATOR_AVERAGE),
            None => self.load_module(generator, GENERATOR),
        }
    }

    /// The trained generator's own weights, never the average (see [`Self::generator`]).
    ///
    /// [`Error::CheckpointMismatch`] if the architecture differs from the checkpoint's.
    pub fn trained_generator<G: ConditionalGenerator<R>, const R: usize>(
        &self,
        generator: G,
    ) -> Result<G> {
        self.check_generator(&generator)?;
        self.load_module(generator, GENERATOR)
    }

    /// The trained discriminator, loaded into `discriminator`.
    ///
    /// [`Error::CheckpointMismatch`] if the architecture differs from the checkpoint's.
    pub fn discriminator<M: Discriminator<R>, const R: usize>(
        &self,
        discriminator: M,
    ) -> Result<M> {
        self.check_discriminator(&discriminator)?;
        self.load_module(discriminator, DISCRIMINATOR)
    }

    /// The clusters of a self-conditioned run (snapshot of D, centres, sizes), with `template`
    /// giving the discriminator's architecture; `None` for the other label modes, which have
    /// no clusters.
    pub fn clusters<M: Discriminator<R>, const R: usize>(
        &self,
        template: M,
    ) -> Result<Option<Clusters<M, R>>> {
        let Some(state) = &self.manifest.conditioner else {
            return Ok(None);
        };
        self.check_discriminator(&template)?;
        let k = self.manifest.config.selfcond.k;
        let mut sizes = vec![0; k];
        for &label in &state.labels {
            match sizes.get_mut(usize::try_from(label).unwrap_or(usize::MAX)) {
                Some(size) => *size += 1,
                None => return Err(Error::LabelOutOfRange { label, k }),
            }
        }
        let device = crate::model::device_of(&template);
        let snapshot = self.load_module(template.valid(), SNAPSHOT)?;
        let centroids = self.centroids(state, &device)?;
        Clusters::new(snapshot, centroids, sizes).map(Some)
    }
}
