//! Small text helpers shared by the file tools.

/// A file's bytes as text with `\n` line ends, or why it is not text.
///
/// A leading byte-order mark is dropped and `\r\n` becomes `\n` (as the
/// reference's tools see files). Bytes that are not UTF-8, or a NUL byte,
/// mean a binary file: the model gets a clear refusal, not mojibake.
pub(crate) fn decode_text(raw: Vec<u8>) -> Result<String, String> {
    let bytes = raw.len();
    let text = String::from_utf8(raw)
        .map_err(|_| format!("it is not UTF-8 text (binary file, {bytes} bytes)"))?;
    if text.contains('\0') {
        return Err(format!("it is a binary file ({bytes} bytes)"));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Ok(text.replace("\r\n", "\n"))
}

/// `51200` → `50KB`, `1536` → `1.5KB`, `900` → `900B` (the reference's sizes).
pub(crate) fn format_size(bytes: usize) -> String {
    let with_unit = |value: f64, unit: &str| {
        let text = format!("{value:.1}");
        let text = text.strip_suffix(".0").unwrap_or(&text).to_string();
        format!("{text}{unit}")
    };
    if bytes < 1024 {
        format!("{bytes}B")
    } else if bytes < 1024 * 1024 {
        with_unit(bytes as f64 / 1024.0, "KB")
    } else {
        with_unit(bytes as f64 / (1024.0 * 1024.0), "MB")
    }
}

/// The `s` of a plural noun.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
