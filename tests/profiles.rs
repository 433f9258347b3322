//! The SE weights' per-class profiles (`src/profiles.rs`): checked against a hand computation
//! from single-image forward passes, and carried by the weights file.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;
use common::*;
use futures_lite::future::block_on;
use secnn::{
    SeCnnConfig, inference, profiles,
    weights::{self, ModelInfo},
};

#[test]
fn profiles_are_the_class_means_of_the_se_weights_and_survive_a_save() {
    let device = Device::flex();
    // The PyTorch fixture's weights: every SE unit active, so the excitations vary between images.
    let model = seed_model(&device);
    // Three classes, the third without images: its mean is empty, and it is left out of the specificity.
    let mut set = synthetic_set(4, 2);
    set.classes.push("empty".into());
    // Noise of its own in each image, so that images of a class differ.
    for (i, image) in set.images.iter_mut().enumerate() {
        for (j, value) in image.iter_mut().enumerate() {
            *value = value.wrapping_add(((i * 7919 + j * 104_729) % 61) as u8);
        }
    }
    let measured = block_on(profiles::measure(&model, &set, "synthetic", 3, &device)).unwrap();
    assert_eq!((measured.images, measured.blocks.len()), (8, 3));

    // By hand: one image at a time, then plain means.
    let per_image: Vec<Vec<Vec<f32>>> = set.images.iter().map(|image| block_on(inference::se_weights(&model, image, &device)).unwrap()).collect();
    for (b, block) in measured.blocks.iter().enumerate() {
        let channels = model.widths()[b];
        assert_eq!(block.class_counts, [4, 4, 0]);
        assert!(block.class_means[2].is_empty());
        let mean_of = |images: &mut dyn Iterator<Item = usize>| -> Vec<f64> {
            let chosen: Vec<usize> = images.collect();
            (0..channels).map(|c| chosen.iter().map(|&i| per_image[i][b][c] as f64).sum::<f64>() / chosen.len() as f64).collect()
        };
        let all = mean_of(&mut (0..8));
        let classes = [mean_of(&mut (0..4)), mean_of(&mut (4..8))];
        for c in 0..channels {
            assert!((block.mean[c] as f64 - all[c]).abs() < 6e-4, "block {b} channel {c}: {} vs {}", block.mean[c], all[c]);
            for (measured, by_hand) in block.class_means.iter().zip(&classes) {
                assert!((measured[c] as f64 - by_hand[c]).abs() < 6e-4);
            }
            let spread = ((0..8).map(|i| (per_image[i][b][c] as f64 - all[c]).powi(2)).sum::<f64>() / 8.0).sqrt();
            assert!((block.spread[c] as f64 - spread).abs() < 6e-4, "spread {} vs {spread}", block.spread[c]);
        }
        // Specificity: the distance between the two class means over their mean within-class spread.
        let distance = (0..channels).map(|c| (classes[0][c] - classes[1][c]).powi(2)).sum::<f64>().sqrt();
        let within: f64 = (0..2).map(|class| {
            let members = class * 4..class * 4 + 4;
            (members.map(|i| (0..channels).map(|c| (per_image[i][b][c] as f64 - classes[class][c]).powi(2)).sum::<f64>()).sum::<f64>() / 4.0).sqrt()
        }).sum::<f64>() / 2.0;
        assert!(within > 1e-4, "block {b}: the images of a class differ");
        assert!((block.specificity as f64 - distance / within).abs() < 0.011, "specificity {} vs {}", block.specificity, distance / within);
    }

    // Stored in the weights file, read back unchanged; training forgets them.
    let mut info = ModelInfo::new(&SeCnnConfig::new(), cifar_classes(), "profiled", "");
    info.profiles = Some(measured.clone());
    let bytes = block_on(weights::to_bytes(&model, &info)).unwrap();
    let loaded = weights::load(&bytes, &device).unwrap();
    assert_eq!(loaded.info.profiles.as_ref(), Some(&measured));
    let mut trained = loaded.info.clone();
    trained.forget_accuracy();
    assert_eq!(trained.profiles, None);
}
