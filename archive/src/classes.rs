//! Class names: CIFAR-10's, and the order classes found as folder names take.

/// CIFAR-10 class names in the official label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Class order for a set of folder names: CIFAR-10's official order when the names are exactly
/// its classes, otherwise sorted by name.
pub fn class_order(mut names: Vec<String>) -> Vec<String> {
    let mut cifar: Vec<String> = CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
    names.sort();
    cifar.sort();
    if names == cifar {
        CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        names
    }
}
