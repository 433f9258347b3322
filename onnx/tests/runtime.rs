//! The graphs run in ONNX Runtime as the seed's CNN edited to the same member runs in PyTorch,
//! for members of several shapes (`tools/check_onnx_export.py --pytorch`: ONNX's full check,
//! then logits and every `se{i}` within 1e-4). Needs `bench/.venv` with torch, safetensors,
//! onnx and onnxruntime (bench/requirements.txt); without it the test says SKIPPED loudly, and
//! fails instead when `SECNN_REQUIRE_ONNXRUNTIME=1`.

mod common;

use common::{Member, cifar_rule, repo};
use std::{path::PathBuf, process::Command};

const REQUIRE: &str = "SECNN_REQUIRE_ONNXRUNTIME";

/// The venv's Python when it has onnxruntime and torch; `None` after a loud skip.
fn python() -> Option<PathBuf> {
    let python = repo().join("bench/.venv/bin/python");
    let ready = Command::new(&python).args(["-c", "import onnx, onnxruntime, torch, safetensors"]).output().is_ok_and(|o| o.status.success());
    if ready {
        return Some(python);
    }
    let why = "bench/.venv has no onnx, onnxruntime, torch and safetensors";
    if std::env::var(REQUIRE).as_deref() == Ok("1") {
        panic!("{why}, and {REQUIRE}=1 says this test must run: `make bench/.venv/bin/python` installs bench/requirements.txt");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\n*** SKIPPED runtime::every_member_runs_in_onnxruntime_as_in_pytorch: {why}; `make bench/.venv/bin/python` to run it ({REQUIRE}=1 makes this a failure) ***\n");
    None
}

#[test]
fn every_member_runs_in_onnxruntime_as_in_pytorch() {
    let Some(python) = python() else { return };
    let dir = std::env::temp_dir().join(format!("secnn-onnx-runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let members = [
        ("seed", Member::seed()),
        // Blocks 1 and 2 narrower than the reduction: no SE bottleneck, weights of 0.5.
        ("narrow", Member { widths: vec![4, 8, 16, 24], reduction: 16, hidden: 20, classes: 3, input_size: 64 }),
        ("six-blocks", Member { widths: vec![4, 6, 8, 8, 12, 16], reduction: 4, hidden: 8, classes: 2, input_size: 64 }),
        ("one-block", Member { widths: vec![20], reduction: 4, hidden: 16, classes: 5, input_size: 16 }),
    ];
    for (name, member) in members {
        let weights = dir.join(format!("{name}.safetensors"));
        let graph = dir.join(format!("{name}.onnx"));
        std::fs::write(&weights, member.file()).unwrap();
        std::fs::write(&graph, secnn_onnx::to_onnx(&member.file(), &cifar_rule()).unwrap()).unwrap();
        let output = Command::new(&python).arg(repo().join("tools/check_onnx_export.py")).arg(&graph).arg("--pytorch").arg(&weights).output().unwrap();
        let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{name}: {printed}");
        assert!(printed.contains("max |onnxruntime - PyTorch| difference"), "{name}: {printed}");
        println!("{printed}"); // the differences, with --nocapture
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
