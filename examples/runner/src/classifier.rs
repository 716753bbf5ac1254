//! Loads the cached MNIST classifier, or trains it (with a progress bar) and caches it.

use std::path::Path;

use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use selfcond_gan::data::mnist::{MnistSplit, read_mnist};
use selfcond_gan::metrics::{ClassifierTraining, MnistClassifier};

/// The classifier at `cache`, or a new one trained on the MNIST in `data_dir` and saved there.
/// Returns it with its test accuracy when the test files are present.
pub fn load_or_train(
    cache: &Path,
    data_dir: &Path,
    device: &Device,
    quiet: bool,
) -> Result<(MnistClassifier, Option<f64>), Box<dyn std::error::Error>> {
    let test = read_mnist(data_dir, MnistSplit::Test).ok();
    if cache.is_file() {
        let classifier = MnistClassifier::load(cache, device)?;
        let accuracy = test
            .as_ref()
            .map(|t| classifier.accuracy(t, device))
            .transpose()?;
        return Ok((classifier, accuracy));
    }
    let train = read_mnist(data_dir, MnistSplit::Train)?;
    eprintln!(
        "training the MNIST classifier (cached at {} afterwards)",
        cache.display()
    );
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} steps {msg}",
    )?);
    let classifier = MnistClassifier::train(
        &train,
        &ClassifierTraining::new(),
        device,
        |step, steps, loss| {
            bar.set_length(steps as u64);
            bar.set_position(step as u64);
            if let Some(loss) = loss {
                bar.set_message(format!("loss {loss:.4}"));
            }
        },
    )?;
    bar.finish();
    classifier.save(cache)?;
    let accuracy = test
        .as_ref()
        .map(|t| classifier.accuracy(t, device))
        .transpose()?;
    if let Some(a) = accuracy {
        eprintln!("MNIST classifier: test accuracy {:.2}%", 100.0 * a);
    }
    Ok((classifier, accuracy))
}
