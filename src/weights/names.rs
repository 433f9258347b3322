//! The names tensors have in a weights file: the seed's PyTorch layer names (`conv1`, `bn1`,
//! `ca1`, …, `fc1`, `fc2`), as every file secnn wrote before the blocks became a list, and the
//! shipped one, have them. In the model the blocks are `blocks.0`, `blocks.1`, …, each with its
//! `conv`, `bn` and `attention`; these two functions translate, so files keep the seed's names.

/// A block's layers: (its field in `SeBlock`, the seed's prefix).
const BLOCK_LAYERS: [(&str, &str); 3] = [("conv", "conv"), ("bn", "bn"), ("attention", "ca")];

/// The file's name for the model's parameter `path`: `blocks.{i}.conv.*` → `conv{i+1}.*`,
/// `blocks.{i}.bn.*` → `bn{i+1}.*`, `blocks.{i}.attention.*` → `ca{i+1}.*`; other paths as they are.
pub fn file_name(path: &str) -> String {
    let Some(rest) = path.strip_prefix("blocks.") else { return path.to_string() };
    let mut parts = rest.splitn(3, '.');
    let (Some(index), Some(field), tail) = (parts.next(), parts.next(), parts.next()) else { return path.to_string() };
    let (Ok(index), Some((_, seed))) = (index.parse::<usize>(), BLOCK_LAYERS.iter().find(|(ours, _)| *ours == field)) else {
        return path.to_string();
    };
    match tail {
        Some(tail) => format!("{seed}{}.{tail}", index + 1),
        None => format!("{seed}{}", index + 1),
    }
}

/// The model's parameter path for the file's `name`: the inverse of [`file_name`].
pub fn module_path(name: &str) -> String {
    let (layer, tail) = name.split_once('.').map_or((name, None), |(layer, tail)| (layer, Some(tail)));
    for (ours, seed) in BLOCK_LAYERS {
        let Some(number) = layer.strip_prefix(seed).and_then(|n| n.parse::<usize>().ok()).filter(|&n| n > 0) else { continue };
        let block = format!("blocks.{}.{ours}", number - 1);
        return tail.map_or(block.clone(), |tail| format!("{block}.{tail}"));
    }
    name.to_string()
}

/// `text` (a message naming parameters by path) with every `blocks.{i}.{layer}` in the file's words.
pub fn in_file_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("blocks.") {
        out.push_str(&rest[..at]);
        let word_end = rest[at..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_')).map_or(rest.len(), |end| at + end);
        out.push_str(&file_name(&rest[at..word_end]));
        rest = &rest[word_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_paths_and_seed_names_translate_both_ways() {
        for (path, name) in [
            ("blocks.0.conv.weight", "conv1.weight"),
            ("blocks.2.bn.running_var", "bn3.running_var"),
            ("blocks.5.attention.squeeze.weight", "ca6.squeeze.weight"),
            ("blocks.1.conv.weight.int8_scale", "conv2.weight.int8_scale"),
            ("fc1.weight", "fc1.weight"),
            ("fc2.bias", "fc2.bias"),
        ] {
            assert_eq!(file_name(path), name);
            assert_eq!(module_path(name), path);
        }
        assert_eq!(module_path("conv0.weight"), "conv0.weight", "the seed counts from 1");
        assert_eq!(in_file_words("Missing tensors: [\"blocks.2.bn.gamma\", \"fc1.bias\"]"), "Missing tensors: [\"bn3.gamma\", \"fc1.bias\"]");
    }
}
