//! The architecture flags of a new model (`train`, `bench`): any member of the seed's family,
//! checked by the family's one rule ([`SeCnnConfig::check`]) before anything is allocated.

use anyhow::Result;
use clap::Args;
use secnn::{architecture, model::SeCnnConfig};

#[derive(Args, Clone, Default)]
pub struct ArchitectureArgs {
    /// Channels of each block, first to last, comma separated: 1 to 6 blocks (default: the
    /// seed's 32,64,128).
    #[arg(long, value_delimiter = ',')]
    widths: Option<Vec<usize>>,
    /// SE reduction ratio: a block of c channels has a bottleneck of c / r units, rounded down
    /// as PyTorch does (0 below r: its SE weights are then all 0.5). Default 16.
    #[arg(long)]
    reduction: Option<usize>,
    /// Hidden units of the classifier (default 512).
    #[arg(long)]
    hidden: Option<usize>,
    /// Side of the square input in pixels, a multiple of 2^blocks (default 32); images are
    /// resized to it by the one input rule.
    #[arg(long)]
    input_size: Option<usize>,
}

impl ArchitectureArgs {
    /// Whether any flag was given.
    pub fn given(&self) -> bool {
        self.widths.is_some() || self.reduction.is_some() || self.hidden.is_some() || self.input_size.is_some()
    }

    /// The input size asked for (the seed's by default).
    pub fn input_size(&self) -> usize {
        self.input_size.unwrap_or(SeCnnConfig::new().input_size)
    }

    /// The model the flags describe, for `classes` outputs, refused by name when it breaks a
    /// rule of the family or a limit.
    pub fn config(&self, classes: usize) -> Result<SeCnnConfig> {
        let mut config = SeCnnConfig::new().with_num_classes(classes).with_input_size(self.input_size());
        if let Some(widths) = &self.widths {
            config.widths = widths.clone();
        }
        config.reduction = self.reduction.unwrap_or(config.reduction);
        config.hidden = self.hidden.unwrap_or(config.hidden);
        config.check()?;
        Ok(config)
    }

    /// [`Self::config`] before the classes are known (with the fewest a model has): refuses
    /// what no class count can save before any data is read.
    pub fn check_early(&self) -> Result<()> {
        self.config(architecture::MIN_CLASSES).map(|_| ())
    }
}
