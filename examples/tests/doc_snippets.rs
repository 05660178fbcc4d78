//! The pages that teach writing a driver show the drivers' own code: every Rust block of
//! docs/tutorial.md is in `drivers/edu/src/edu.rs` (or in the file its fence names with
//! `from=PATH`, relative to the repository), and every Rust block of docs/devices.md in the file
//! its fence names, whitespace aside.
//!
//! A block may leave parts of the file out where a line says `// ...`: the parts between those
//! lines must each be in the file, in the order shown. A snippet that drifts from the file (a
//! `SpinLock` where the driver has a `SpinLockIrq`) fails this test, with the part that is not in
//! the file.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository's root.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A Rust block of a page.
#[derive(Debug)]
struct Block {
    /// The line of its opening fence.
    line: usize,
    /// The file it is from, relative to the repository.
    from: String,
    /// Its lines.
    code: Vec<String>,
}

/// The Rust blocks of a Markdown text (fences opening with ```` ```rust ````); a block whose fence
/// names no file is from `default`, and a page without a default must name one in every fence.
fn rust_blocks(markdown: &str, default: Option<&str>) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        let fence = line.trim_start();
        match open.take() {
            Some(block) if fence.starts_with("```") => blocks.push(block),
            Some(mut block) => {
                block.code.push(line.to_owned());
                open = Some(block);
            }
            None => {
                let Some(info) = fence.strip_prefix("```rust") else {
                    continue;
                };
                let from = info
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("from="))
                    .or(default)
                    .unwrap_or_else(|| {
                        panic!("the Rust block at line {} names no file", index + 1)
                    });
                open = Some(Block {
                    line: index + 1,
                    from: from.to_owned(),
                    code: Vec::new(),
                });
            }
        }
    }
    assert!(open.is_none(), "a Rust block is not closed");
    blocks
}

/// `text` without whitespace: formatting may differ, the code may not.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The parts of a block between its `// ...` lines, each squeezed; empty parts dropped.
fn parts(block: &Block) -> Vec<String> {
    block
        .code
        .split(|line| line.trim() == "// ...")
        .map(|part| squeezed(&part.join("\n")))
        .filter(|part| !part.is_empty())
        .collect()
}

/// Checks that each part of `block` of `page` is in `source`, in order; the error names the first
/// that is not.
fn check(page: &str, block: &Block, source: &str) -> Result<(), String> {
    let source = squeezed(source);
    let mut from = 0;
    for part in parts(block) {
        match source[from..].find(&part) {
            Some(at) => from += at + part.len(),
            None => {
                return Err(format!(
                    "the block at {page}:{} has a part that is not in {}{}:\n{part}",
                    block.line,
                    block.from,
                    if source.contains(&part) {
                        " after the part before it"
                    } else {
                        ""
                    }
                ))
            }
        }
    }
    Ok(())
}

/// Checks that `page` has at least `min` Rust blocks and that each is in its file; `default` is
/// the file of the blocks whose fence names none.
fn check_page(page: &str, default: Option<&str>, min: usize) {
    let root = repository();
    let markdown = fs::read_to_string(root.join(page)).unwrap();
    let blocks = rust_blocks(&markdown, default);
    assert!(
        blocks.len() >= min,
        "only {} Rust blocks found in {page}",
        blocks.len()
    );
    let problems: Vec<String> = blocks
        .iter()
        .filter_map(|block| {
            let source = fs::read_to_string(root.join(&block.from))
                .unwrap_or_else(|e| panic!("{}: {e}", block.from));
            check(page, block, &source).err()
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_rust_block_of_the_tutorial_is_in_the_driver() {
    check_page("docs/tutorial.md", Some("drivers/edu/src/edu.rs"), 10);
}

#[test]
fn every_rust_block_of_the_devices_page_is_in_its_file() {
    check_page("docs/devices.md", None, 10);
}

#[test]
fn blocks_match_whitespace_aside_and_parts_in_order() {
    let source = "fn a() {\n    let x = f(1,\n        2);\n}\nfn b() {}\n";
    let block = |code: &str| Block {
        line: 1,
        from: "x.rs".into(),
        code: code.lines().map(str::to_owned).collect(),
    };
    assert!(check("x.md", &block("let x = f(1, 2);"), source).is_ok());
    assert!(check("x.md", &block("fn a() {\n// ...\n}\nfn b() {}"), source).is_ok());
    let err = check("x.md", &block("let x = f(1, 3);"), source).unwrap_err();
    assert!(err.contains("f(1,3)"), "{err}");
    // The parts must come in the file's order.
    let err = check("x.md", &block("fn b() {}\n// ...\nfn a()"), source).unwrap_err();
    assert!(err.contains("after the part before it"), "{err}");
    let blocks = rust_blocks(
        "x\n```rust from=a/b.rs\none\n```\n```toml\nno\n```\n  ```rust\ntwo\n  ```\n",
        Some("drivers/edu/src/edu.rs"),
    );
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].from.as_str(), blocks[0].line), ("a/b.rs", 2));
    assert_eq!(blocks[1].from, "drivers/edu/src/edu.rs");
    assert_eq!(blocks[1].code, ["two"]);
}
