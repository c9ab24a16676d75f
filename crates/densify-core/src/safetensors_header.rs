//! Safetensors files that are byte-identical for identical content: the JSON header's keys
//! (tensor entries and `__metadata__`) in sorted order. burn-store and the safetensors crate
//! write them in hash-map order, which differs between processes.

/// The same safetensors file with its JSON header's keys (tensor entries and `__metadata__`)
/// in sorted order. burn-store writes them in hash-map order, which differs between processes,
/// so two saves of bit-identical weights gave different files; sorted, they are byte-identical.
pub fn canonical_safetensors_header(bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let length = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .ok_or("the safetensors buffer is shorter than its header length")?;
    let header = bytes
        .get(8..8 + length)
        .ok_or("the safetensors header is cut short")?;
    let value: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("safetensors header: {e}"))?;
    let sorted = sort_keys(value);
    let mut text = serde_json::to_string(&sorted).map_err(|e| e.to_string())?;
    // The format aligns the data on 8 bytes; spaces pad the header.
    while (8 + text.len()) % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(bytes.len() + 8);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + length..]);
    Ok(out)
}

/// `value` with every object's keys inserted in sorted order (so the output is sorted whether
/// or not serde_json preserves insertion order).
fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        other => other,
    }
}
