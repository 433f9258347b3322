//! **secnn-archive** — the ZIP files that carry a visitor's work: a *project* (`project.json`,
//! the photos, the model) and a plain zip of class folders, read by one set of rules so the CLI,
//! the page and the tests refuse the same bad archives by name; and project files written.
//!
//! A crate of its own, without Burn: secnn's CLI uses it natively, and in the browser it is a
//! small wasm module of its own (`www/secnn/pkg-archive`, `make wasm`) that the model's worker
//! loads only when a project is saved or an archive opened, so the module every page starts on
//! does not carry the zip library (BENCHMARKS.md, "Archives").
//!
//! - `sniff`: what a file is, from its first bytes;
//! - `classes`: CIFAR-10's class names and the order classes found as folders take;
//! - `project`: the project file's description and its writer;
//! - `archive`: reading either layout, every refusal named ([`ArchiveError`]);
//! - `web` (feature `web`, the browser module's build): `readArchive` and `writeProject` for JavaScript.

mod archive;
mod classes;
mod project;
mod sniff;
#[cfg(feature = "web")]
mod web;

pub use archive::{
    Archive, ArchiveClass, ArchiveError, ArchiveFile, ArchiveKind, MAX_ENTRY_BYTES, MAX_RATIO, MAX_TOTAL_BYTES,
    RATIO_CHECKED_FROM, SkippedEntry, read_archive, read_archive_split,
};
pub use classes::{CIFAR10_CLASSES, class_order};
pub use project::{FORMAT as PROJECT_FORMAT, VERSION as PROJECT_VERSION, folder_name, write_project};
pub use sniff::{is_heif, looks_like_image};
