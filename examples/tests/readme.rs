//! The README's quick path ("Try it in seconds") is a command that works: this test runs the
//! command its first `sh` block holds, from the repository's root, and checks that the program
//! prints every line of the `text` block the README shows after it. The fast test command the
//! README gives excludes a package that exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The README's section headed `heading` (`## ` and the title), up to the next section.
fn section(readme: &str, heading: &str) -> String {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no `{heading}`"));
    let body = &readme[start + heading.len() + 2..];
    body[..body.find("\n## ").unwrap_or(body.len())].to_owned()
}

/// The lines of the first code block fenced as ```` ```kind ```` in `text`.
fn block(text: &str, kind: &str) -> Vec<String> {
    let fence = format!("```{kind}\n");
    let start = text
        .find(&fence)
        .unwrap_or_else(|| panic!("no ```{kind} block in:\n{text}"))
        + fence.len();
    let end = start + text[start..].find("```").expect("the block ends");
    text[start..end].lines().map(str::to_owned).collect()
}

#[test]
fn the_quick_path_runs_and_prints_what_the_readme_shows() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let quick = section(&readme, "## Try it in seconds");
    let command = block(&quick, "sh");
    assert_eq!(
        command.len(),
        1,
        "the quick path is one command: {command:?}"
    );
    let words: Vec<&str> = command[0].split_whitespace().collect();
    assert_eq!(words[0], "cargo", "the quick path runs cargo: {command:?}");
    let shown = block(&quick[quick.find("```sh").unwrap() + 5..], "text");

    // The examples are built before this test runs: cargo finds them up to date and runs one.
    let output = Command::new(env!("CARGO"))
        .args(&words[1..])
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "`{}` failed ({}):\n{out}\n{}",
        command[0],
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for line in &shown {
        assert!(
            out.lines().any(|l| l == line),
            "`{}` did not print the README's line {line:?}:\n{out}",
            command[0]
        );
    }
}

#[test]
fn the_fast_tests_leave_out_a_package_that_exists() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let tests = section(&readme, "## The tests");
    let fast = block(&tests, "sh");
    let words: Vec<&str> = fast[0].split_whitespace().collect();
    assert_eq!(words[..3], ["cargo", "test", "--workspace"], "{fast:?}");
    let excluded = words[words.iter().position(|w| *w == "--exclude").unwrap() + 1];
    let manifest = std::fs::read_to_string(root().join("tests/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("name = \"{excluded}\"")),
        "the fast tests exclude {excluded}, which is not the harness's package"
    );
}
