//! Helpers shared by the native integration tests.
#![allow(dead_code)]

use burn::prelude::*;
use secnn::{
    SeCnnConfig,
    data::{self, ImageSet, Planes},
};
use std::path::{Path, PathBuf};

pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A path in this checkout. `cargo test` sets CARGO_MANIFEST_DIR when it runs the tests; the
/// compile-time value could name another clone that shares the target directory.
pub fn repo_path(relative: &str) -> PathBuf {
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    root.join(relative)
}

pub fn fixture_path(name: &str) -> PathBuf {
    repo_path("tests/fixtures").join(name)
}

/// The seed's CNN from the PyTorch fixture (`seed_cnn.pth`), as `secnn import-pytorch` reads it.
pub fn seed_model(device: &Device) -> secnn::SeCnn {
    let bytes = std::fs::read(fixture_path("seed_cnn.pth")).expect("tests/fixtures/seed_cnn.pth");
    secnn::interop::load_pytorch(&bytes, None, device).expect("import the seed state_dict").model
}

pub fn shipped_weights() -> PathBuf {
    repo_path("www/secnn/model/secnn-cifar10.bpk")
}

pub fn cifar_classes() -> Vec<String> {
    data::CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
}

/// What a test may find missing on a machine, so that it skips: each names how to set it up and
/// the environment variable that turns the skip into a failure (CI sets it where the thing
/// should be there: `.ci/run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The CIFAR-10 images under `data/cifar10`. `SECNN_REQUIRE_DATA=1` makes a skip fail.
    Data,
    /// A wgpu (Vulkan) adapter. `SECNN_REQUIRE_WGPU=1` makes a skip fail.
    Wgpu,
    /// onnx and onnxruntime in `bench/.venv` (the ONNX export's check).
    /// `SECNN_REQUIRE_ONNXRUNTIME=1` makes a skip fail.
    Onnxruntime,
    /// PyTorch and safetensors in `bench/.venv` (members of the family saved by real PyTorch at
    /// test time). `SECNN_REQUIRE_TORCH=1` makes a skip fail.
    Torch,
}

impl Need {
    pub fn variable(self) -> &'static str {
        match self {
            Need::Data => "SECNN_REQUIRE_DATA",
            Need::Wgpu => "SECNN_REQUIRE_WGPU",
            Need::Onnxruntime => "SECNN_REQUIRE_ONNXRUNTIME",
            Need::Torch => "SECNN_REQUIRE_TORCH",
        }
    }

    fn setup(self) -> &'static str {
        match self {
            Need::Data => "run `make data` with ../shared/datasets/cifar10-jpeg.tar.gz present",
            Need::Wgpu => "install a Vulkan driver (`apt-get install mesa-vulkan-drivers` gives lavapipe, a CPU one)",
            Need::Onnxruntime | Need::Torch => "run `make bench/.venv/bin/python` (bench/requirements.txt)",
        }
    }

    fn required(self) -> bool {
        std::env::var(self.variable()).as_deref() == Ok("1")
    }
}

/// The running test as `file::name` (libtest names each test's thread after it).
pub fn current_test() -> String {
    let name = std::thread::current().name().filter(|n| *n != "main").unwrap_or("<unnamed test>").to_string();
    format!("{}::{name}", env!("CARGO_CRATE_NAME"))
}

/// Reports that the calling test skips (it must return right after) because `why`: a loud
/// `SKIPPED` line on the process's stderr, or a panic when `need`'s variable is `1`.
///
/// The line is written to stderr directly: libtest captures `eprintln!` of a passing test and
/// shows it only on failure, which made these skips silent.
pub fn skip(need: Need, why: &str) {
    let test = current_test();
    let (variable, setup) = (need.variable(), need.setup());
    if need.required() {
        panic!("{test} cannot run: {why}. {variable}=1 says it must: {setup}");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n*** SKIPPED {test}: {why}; {setup} to run it ({variable}=1 makes this a failure) ***\n"
    );
}

/// `data/cifar10/<part>` (`test`, `train/cat`, …), unpacked from `../shared` by `make data`;
/// `None` after [`skip`] when it is absent.
pub fn cifar_dir(part: &str) -> Option<PathBuf> {
    let dir = repo_path("data/cifar10").join(part);
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(Need::Data, &format!("{} not found", dir.display()));
        None
    }
}

/// `data/cifar10/test`, or `None` after a loud skip.
pub fn cifar_test_dir() -> Option<PathBuf> {
    cifar_dir("test")
}

/// A device of `kind` (wgpu or, in `vulkan` builds, Vulkan), or `None` after [`skip`] when no
/// adapter opens.
pub fn gpu_device(kind: secnn::backend::BackendKind) -> Option<Device> {
    match secnn::backend::open_device(kind) {
        Ok(device) => Some(device),
        Err(error) => {
            let kind = format!("{kind:?}").to_lowercase();
            skip(Need::Wgpu, &format!("no {kind} adapter ({error})"));
            None
        }
    }
}

/// The planes mirrored left to right, computed here rather than by the crate.
pub fn mirrored(planes: &Planes) -> Planes {
    let side = planes.side();
    let mut out = data::Planes::zeros(side);
    for channel in 0..3 {
        for y in 0..side {
            for x in 0..side {
                out[channel * side * side + y * side + x] = planes[channel * side * side + y * side + (side - 1 - x)];
            }
        }
    }
    out
}

/// The PyTorch parity fixture written by `tests/fixtures/make_pytorch_fixture.py`.
pub struct PytorchFixture {
    pub input_shape: [usize; 4],
    pub input_values: Vec<f32>,
    pub logits: Vec<f32>,
    pub se_weights: Vec<Vec<f32>>,
}

impl PytorchFixture {
    pub fn load() -> Self {
        let text = std::fs::read_to_string(fixture_path("seed_cnn_expected.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let floats = |v: &serde_json::Value| -> Vec<f32> {
            v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
        };
        let shape: Vec<usize> = json["input_shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        Self {
            input_shape: [shape[0], shape[1], shape[2], shape[3]],
            input_values: floats(&json["input"]),
            logits: floats(&json["logits"]),
            se_weights: ["block1", "block2", "block3"].iter().map(|b| floats(&json["se_weights"][b])).collect(),
        }
    }

    pub fn input(&self, device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(self.input_values.clone(), self.input_shape), device)
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("secnn-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn write_png(path: &Path, rgb: [u8; 3], width: u32, height: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(width, height, image::Rgb(rgb)).save(path).unwrap();
}

/// `per_class` images for each of `classes` classes, each class a distinct pattern.
pub fn synthetic_set(per_class: usize, classes: usize) -> ImageSet {
    let mut set = ImageSet {
        classes: (0..classes.max(2)).map(|c| format!("class{c}")).collect(),
        ..Default::default()
    };
    for class in 0..classes {
        for index in 0..per_class {
            let mut planes = Planes::zeros(32);
            for (i, v) in planes.iter_mut().enumerate() {
                let (y, x) = ((i % 1024) / 32, i % 32);
                let stripe = if class % 2 == 0 { x / 4 } else { y / 4 };
                *v = ((stripe % 2) * 200 + (i / 1024) * 20 + index * 3) as u8;
            }
            set.images.push(planes);
            set.labels.push(class);
        }
    }
    set
}

/// Writes a teacher logits file in `tools/teacher.py`'s format: for image `i` (named
/// `names[i]`) and view `k`, the view `views(i, k)` and the logits `logits(i, k)`.
#[allow(dead_code)]
pub fn teacher_logits_bytes(
    names: &[String],
    classes: &[String],
    view_count: usize,
    views: impl Fn(usize, usize) -> secnn::data::CropFlip,
    logits: impl Fn(usize, usize) -> Vec<f32>,
) -> Vec<u8> {
    let header = serde_json::json!({
        "format": "secnn-teacher-logits", "version": 1, "classes": classes,
        "views": view_count, "names": names, "teacher": {"architecture": "test"},
    });
    let mut bytes = serde_json::to_vec(&header).unwrap();
    bytes.push(b'\n');
    for i in 0..names.len() {
        for k in 0..view_count {
            let v = views(i, k);
            bytes.extend([v.dx as u8, v.dy as u8, v.flip as u8, 0]);
        }
    }
    for i in 0..names.len() {
        for k in 0..view_count {
            let row = logits(i, k);
            assert_eq!(row.len(), classes.len());
            bytes.extend(row.iter().flat_map(|v| v.to_le_bytes()));
        }
    }
    bytes
}

/// What `tests/fixtures/make_family_variants.py` recorded for one member of the family.
pub struct FamilyMember {
    pub name: String,
    pub config: SeCnnConfig,
    pub bottlenecks: Vec<usize>,
    pub batch: usize,
    pub logits: Vec<f32>,
    pub se_weights: Vec<Vec<f32>>,
}

/// The members `dir/expected.json` describes (`tests/fixtures/family`, or the script's `--issue` folder).
pub fn family_members(dir: &Path) -> Vec<FamilyMember> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let batch = json["batch"].as_u64().unwrap() as usize;
    let numbers = |v: &serde_json::Value| -> Vec<usize> { serde_json::from_value(v.clone()).unwrap() };
    let floats = |v: &serde_json::Value| -> Vec<f32> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect() };
    let members = json["members"].as_object().unwrap().iter().map(|(name, m)| FamilyMember {
        name: name.clone(),
        config: SeCnnConfig::new()
            .with_widths(numbers(&m["widths"]))
            .with_reduction(m["reduction"].as_u64().unwrap() as usize)
            .with_hidden(m["hidden"].as_u64().unwrap() as usize)
            .with_num_classes(m["classes"].as_u64().unwrap() as usize)
            .with_input_size(m["input_size"].as_u64().unwrap() as usize),
        bottlenecks: numbers(&m["bottlenecks"]),
        batch,
        logits: floats(&m["logits"]),
        se_weights: m["se_weights"].as_array().unwrap().iter().map(floats).collect(),
    });
    members.collect()
}

/// The script's fixed input: image `b`, value `i` is `((b * 7919 + i * 104729) % 257) / 128 - 1`.
pub fn family_input(batch: usize, size: usize, device: &Device) -> Tensor<4> {
    let per_image = 3 * size * size;
    let values = (0..batch).flat_map(|b| (0..per_image).map(move |i| ((b * 7919 + i * 104_729) % 257) as f32 / 128.0 - 1.0));
    Tensor::from_data(TensorData::new(values.collect::<Vec<f32>>(), [batch, 3, size, size]), device)
}
