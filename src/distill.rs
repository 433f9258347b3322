//! Knowledge distillation: the student learns from a stronger teacher's softened outputs as well
//! as from the labels. The teacher (trained once by `tools/teacher.py`, never shipped) leaves a
//! logits file with its outputs on a few fixed crop/flip [`CropFlip`]s of every training image; the
//! student's augmentation draws one of those views, so both always look at the same pixels.

use crate::{
    data::{self, CropFlip, ImageSet, Planes},
    training,
};
use burn::{prelude::*, tensor::activation::log_softmax};
use rand::{Rng, rngs::SmallRng};
use serde::Deserialize;
use std::collections::HashMap;

/// The side of the images a teacher's logits file describes (`tools/teacher.py` trains on
/// CIFAR-10's 32 px images).
pub const TEACHER_SIDE: usize = 32;

/// The distillation term of the loss, Hinton et al.'s `T² · KL(softmax(t/T) ‖ softmax(s/T))`,
/// averaged over the batch. `student` and `teacher` are logits `[n, classes]`; the `T²` keeps
/// its gradients on the scale of the cross-entropy's whatever the temperature.
pub fn kd_loss(student: Tensor<2>, teacher: Tensor<2>, temperature: f64) -> Tensor<1> {
    let n = student.dims()[0];
    let log_student = log_softmax(student.div_scalar(temperature), 1);
    let log_teacher = log_softmax(teacher.div_scalar(temperature), 1);
    let kl = log_teacher.clone().exp().mul(log_teacher - log_student).sum();
    kl.mul_scalar(temperature * temperature / n.max(1) as f64)
}

/// Why a teacher's logits file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TeacherError {
    #[error("not a teacher logits file (expected a JSON header line of format secnn-teacher-logits)")]
    NotLogits,
    #[error("teacher logits header: {0}")]
    Header(String),
    #[error("teacher logits: {expected} bytes of views and logits expected after the header, {found} found")]
    Size { expected: usize, found: usize },
    #[error("the teacher's classes {teacher:?} differ from the data's {data:?}")]
    Classes { teacher: Vec<String>, data: Vec<String> },
    #[error("{missing} training images have no teacher logits (first: {first}); was the teacher run on this folder?")]
    Missing { missing: usize, first: String },
    #[error("distillation needs images read from an image folder (named, like cat/0001.jpg)")]
    Unnamed,
    /// The teacher saw CIFAR's 32 px images; its views do not exist at another size.
    #[error("the teacher's logits are for {TEACHER_SIDE} px images, and this model takes {0} px: distil a model of input size {TEACHER_SIDE}")]
    InputSize(usize),
}

#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
    classes: Vec<String>,
    views: usize,
    names: Vec<String>,
}

/// A teacher's logits file in memory: for every named image, `views` views and their logits.
pub struct TeacherLogits {
    pub classes: Vec<String>,
    pub views: usize,
    rows: HashMap<String, usize>,
    view_table: Vec<CropFlip>,
    logits: Vec<f32>,
}

impl TeacherLogits {
    /// Parses the file `tools/teacher.py` writes: a JSON header line, then per image and view
    /// `dx i8, dy i8, flip u8, 0`, then per image and view its logits as little-endian `f32`s.
    pub fn parse(bytes: &[u8]) -> Result<Self, TeacherError> {
        let line_end = bytes.iter().position(|&b| b == b'\n').ok_or(TeacherError::NotLogits)?;
        let header: Header = serde_json::from_slice(&bytes[..line_end]).map_err(|_| TeacherError::NotLogits)?;
        if header.format != "secnn-teacher-logits" || header.version != 1 {
            return Err(TeacherError::Header(format!("{} version {}", header.format, header.version)));
        }
        if header.views == 0 || header.classes.is_empty() {
            return Err(TeacherError::Header("no views or no classes".into()));
        }
        let entries = header.names.len() * header.views;
        let body = &bytes[line_end + 1..];
        let expected = entries * (4 + 4 * header.classes.len());
        if body.len() != expected {
            return Err(TeacherError::Size { expected, found: body.len() });
        }
        let (table, logits) = body.split_at(entries * 4);
        let view_table = table
            .chunks_exact(4)
            .map(|v| CropFlip { dx: v[0] as i8, dy: v[1] as i8, flip: v[2] != 0 })
            .collect();
        let logits = logits.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let rows = header.names.into_iter().enumerate().map(|(row, name)| (name, row)).collect();
        Ok(Self { classes: header.classes, views: header.views, rows, view_table, logits })
    }

    /// The teacher for `set` (images at the model's input size): its row for every image,
    /// found by name.
    pub fn for_set(self, set: &ImageSet) -> Result<Teacher, TeacherError> {
        if let Some(side) = set.images.first().map(|planes| planes.side()).filter(|&side| side != TEACHER_SIDE) {
            return Err(TeacherError::InputSize(side));
        }
        if set.classes != self.classes {
            return Err(TeacherError::Classes { teacher: self.classes.clone(), data: set.classes.clone() });
        }
        if set.names.len() != set.len() {
            return Err(TeacherError::Unnamed);
        }
        let missing: Vec<&String> = set.names.iter().filter(|name| !self.rows.contains_key(*name)).collect();
        if let Some(first) = missing.first() {
            return Err(TeacherError::Missing { missing: missing.len(), first: first.to_string() });
        }
        let rows = set.names.iter().map(|name| self.rows[name]).collect();
        Ok(Teacher { logits: self, rows, cutout: 0 })
    }

    /// View `k` of row `row` and the teacher's logits on it.
    pub fn view(&self, row: usize, k: usize) -> (CropFlip, &[f32]) {
        let entry = row * self.views + k;
        let classes = self.classes.len();
        (self.view_table[entry], &self.logits[entry * classes..(entry + 1) * classes])
    }
}

/// A teacher's logits lined up with one training set (its images in the set's order).
pub struct Teacher {
    logits: TeacherLogits,
    rows: Vec<usize>,
    /// Side of the cutout square the student's views get (0: none).
    cutout: usize,
}

impl Teacher {
    /// Cuts a square of side `size` (0: none) out of every view [`Self::batch`] gives the student
    /// ([`training::Cutout`]). The teacher's logits stay those of the uncut view: its file holds
    /// nothing else, and what the student is asked to match is the whole image's answer.
    pub fn with_cutout(self, size: usize) -> Self {
        Self { cutout: size, ..self }
    }

    /// A training batch for distillation: every image seen through one of its teacher's views,
    /// drawn at random, then cut ([`Self::with_cutout`]; the view first, then the square).
    /// Returns images `[n, 3, 32, 32]` (the teacher's size), labels `[n]` and teacher logits `[n, classes]`, the
    /// teacher's on the uncut views.
    pub fn batch(
        &self,
        set: &ImageSet,
        indices: &[usize],
        rng: &mut SmallRng,
        device: &Device,
    ) -> (Tensor<4>, Tensor<1, Int>, Tensor<2>) {
        let classes = self.logits.classes.len();
        let mut planes: Vec<Planes> = Vec::with_capacity(indices.len());
        let mut targets = Vec::with_capacity(indices.len() * classes);
        for &i in indices {
            let (view, logits) = self.logits.view(self.rows[i], rng.random_range(0..self.logits.views));
            let mut student_view = view.apply(&set.images[i]);
            training::cut(&mut student_view, self.cutout, rng);
            planes.push(student_view);
            targets.extend_from_slice(logits);
        }
        let refs: Vec<&Planes> = planes.iter().collect();
        (
            data::batch_tensor(&refs, device),
            data::label_tensor(set, indices, device),
            Tensor::from_data(TensorData::new(targets, [indices.len(), classes]), device),
        )
    }
}
