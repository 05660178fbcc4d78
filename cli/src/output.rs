//! Writing to the terminal: a closed pipe ends output quietly, long text is wrapped.

use std::io::Write;

/// Writes `text` and a newline to `out`. A reader that went away (`drydock list | head`) is not
/// an error: the rest of the output is dropped.
pub(crate) fn line(out: &mut dyn Write, text: &str) {
    let _ = writeln!(out, "{text}");
}

/// Wraps `text` into lines of at most `width` characters (longer words stay whole), the first
/// starting with `first`, the others with `rest`.
pub(crate) fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut lines = Vec::new();
    let mut current = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut current, rest.to_owned()));
            empty = true;
        }
        if !empty {
            current.push(' ');
        }
        current.push_str(word);
        empty = false;
    }
    lines.push(current);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_at_word_boundaries_with_indents() {
        let text = "one two three four five six";
        assert_eq!(
            wrap(text, 13, "", "  "),
            "one two three\n  four five\n  six"
        );
        assert_eq!(wrap(text, 80, "> ", "  "), "> one two three four five six");
        assert_eq!(
            wrap("averyveryverylongword x", 5, "", ""),
            "averyveryverylongword\nx"
        );
    }
}
