//! Every relative link in the repository's Markdown documents resolves: the file it names
//! exists, and so does the heading its `#anchor` names (GitHub's anchors). Links to other
//! sites are not fetched (the tests run offline); rustdoc checks the guide pages' own links.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace root: this crate's parent folder.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The Markdown documents of the project (not its build output, nor the vendored crates'
/// own documents).
fn documents(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("readable entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            let skipped = name.starts_with('.') && name != ".ci"
                || ["target", "node_modules"].contains(&name)
                || name.starts_with("tansu-");
            if !skipped {
                documents(&path, found);
            }
        } else if name.ends_with(".md") {
            found.push(path);
        }
    }
}

/// The targets of the inline links `[text](target)` outside code blocks and code spans.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans hold no links.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchor of a heading: lower case, spaces to hyphens, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown document's headings.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    markdown
        .lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            !fenced && line.starts_with('#')
        })
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

/// What is wrong with `target`, a link in `document`, if anything.
fn broken(document: &Path, target: &str) -> Option<String> {
    // Other sites, and rustdoc's intra-doc links (`crate::guide::settings`) of the guide
    // pages, which rustdoc itself checks.
    let intra_doc = !target.contains('/') && (target == "crate" || target.contains("::"));
    if target.contains("://") || target.starts_with("mailto:") || intra_doc {
        return None;
    }
    let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
    let linked = if file.is_empty() {
        document.to_path_buf()
    } else {
        document.parent().expect("a file's folder").join(file)
    };
    if !linked.exists() {
        return Some(format!("{target}: no such file"));
    }
    if fragment.is_empty() || linked.is_dir() {
        return None;
    }
    let text = std::fs::read_to_string(&linked).expect("readable document");
    (!anchors(&text).contains(fragment)).then(|| format!("{target}: no such heading"))
}

#[test]
fn every_relative_link_in_the_documents_resolves() {
    let root = root();
    let mut found = Vec::new();
    documents(&root, &mut found);
    assert!(
        found.iter().any(|d| d.ends_with("README.md")),
        "the README is among the documents checked"
    );
    let mut broken_links = Vec::new();
    for document in &found {
        let text = std::fs::read_to_string(document).expect("readable document");
        for target in link_targets(&text) {
            if let Some(problem) = broken(document, &target) {
                let shown = document.strip_prefix(&root).unwrap_or(document);
                broken_links.push(format!("{}: {problem}", shown.display()));
            }
        }
    }
    assert!(
        broken_links.is_empty(),
        "broken links:\n{}",
        broken_links.join("\n")
    );
}

#[test]
fn the_checker_finds_links_and_anchors_as_github_renders_them() {
    let text = "See [a](x.md#the-rule) and `[not](code.md)`.\n```\n[no](fenced.md)\n```\n";
    assert_eq!(link_targets(text), ["x.md#the-rule"]);
    let here = root().join("README.md");
    assert_eq!(
        broken(&here, "crate::guide::settings"),
        None,
        "rustdoc's to check"
    );
    assert!(broken(&here, "no-such-file.md").is_some());
    assert!(broken(&here, "DEVELOPMENT.md#no-such-heading").is_some());
    assert_eq!(broken(&here, "DEVELOPMENT.md#the-tests"), None);
    assert_eq!(anchor(" The rule: `a`, b!"), "the-rule-a-b");
    assert!(anchors("# Top\n```\n# not a heading\n```\n## Two words").contains("two-words"));
}
