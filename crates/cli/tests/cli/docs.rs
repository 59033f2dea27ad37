//! The documentation that ships with the code: every relative link and anchor in the repository's Markdown
//! resolves inside the repository, the README stays a front page, and its tour runs as written.

use super::{netseg, repo_root};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// Folders that hold no documentation of ours: build output, third-party installs, fuzzing state.
const SKIPPED_DIRS: &[&str] = &["target", ".git", "node_modules", "artifacts", "corpus"];

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    pending.push(path);
                }
            } else if name.ends_with(".md") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// GitHub's heading anchors (github-slugger): lower case, everything but letters, digits, `-`, `_` and spaces
/// dropped, spaces turned into `-`; a repeated slug gets `-1`, `-2`, ...
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A link found in a Markdown file: its destination and the line it is on.
struct Link {
    line: usize,
    dest: String,
}

struct Page {
    anchors: BTreeSet<String>,
    links: Vec<Link>,
}

fn parse(text: &str) -> Page {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_FOOTNOTES);
    options.insert(Options::ENABLE_TASKLISTS);
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut anchors = BTreeSet::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut links = Vec::new();
    let mut heading: Option<String> = None;
    for (event, range) in Parser::new_ext(text, options).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) if level <= HeadingLevel::H6 => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                if let Some(title) = heading.take() {
                    let base = slug(title.trim());
                    let count = seen.entry(base.clone()).or_insert(0);
                    anchors.insert(if *count == 0 { base.clone() } else { format!("{base}-{count}") });
                    *count += 1;
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(title) = heading.as_mut() {
                    title.push_str(&t);
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
                links.push(Link { line: line_of(range.start), dest: dest_url.to_string() })
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                // Explicit anchors: <a id="..."> or <a name="...">.
                for attr in ["id=\"", "name=\""] {
                    for (at, _) in html.match_indices(attr) {
                        let rest = &html[at + attr.len()..];
                        if let Some(end) = rest.find('"') {
                            anchors.insert(rest[..end].to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Page { anchors, links }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped =
            bytes.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) if bytes[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` with `.` and `..` resolved lexically; `None` when `..` climbs above the start.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Every broken relative link of the Markdown files under `root`, as `file:line: message`: a target that does
/// not exist or lies outside `root`, or an anchor that no heading of the target makes.
fn broken_links(root: &Path) -> Vec<String> {
    let files = markdown_files(root);
    let pages: BTreeMap<PathBuf, Page> = files
        .iter()
        .map(|f| {
            let relative = f.strip_prefix(root).expect("under the root").to_path_buf();
            (relative, parse(&std::fs::read_to_string(f).expect("read markdown")))
        })
        .collect();
    let mut broken = Vec::new();
    for (file, page) in &pages {
        for link in &page.links {
            let dest = link.dest.trim();
            let is_external = dest.contains("://") || dest.starts_with("mailto:");
            if is_external || dest.is_empty() {
                continue;
            }
            let here = format!("{}:{}", file.display(), link.line);
            let (path, anchor) = match dest.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (dest, None),
            };
            let path = percent_decode(path);
            let target = if path.is_empty() {
                Some(file.clone())
            } else if let Some(from_root) = path.strip_prefix('/') {
                normalise(Path::new(from_root))
            } else {
                normalise(&file.parent().unwrap_or(Path::new("")).join(&path))
            };
            let Some(target) = target else {
                broken.push(format!("{here}: `{dest}` points outside the repository"));
                continue;
            };
            if !root.join(&target).exists() {
                broken.push(format!("{here}: `{dest}`: {} does not exist", target.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                match pages.get(&target) {
                    Some(linked) if linked.anchors.contains(&percent_decode(anchor)) => {}
                    Some(linked) => broken.push(format!(
                        "{here}: `{dest}`: no heading of {} makes the anchor `#{anchor}` (it has: {})",
                        target.display(),
                        linked.anchors.iter().cloned().collect::<Vec<_>>().join(", ")
                    )),
                    None => broken.push(format!("{here}: `{dest}`: an anchor into a file that is not Markdown")),
                }
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_and_anchor_in_the_markdown_resolves() {
    let root = repo_root().canonicalize().expect("repository root");
    let files = markdown_files(&root);
    assert!(files.iter().any(|f| f.ends_with("docs/commands/audit.md")), "{files:?}");
    let broken = broken_links(&root);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The checker itself: each kind of broken link is caught, and what GitHub would resolve is accepted.
#[test]
fn the_link_checker_catches_missing_files_anchors_and_escapes() {
    let dir = super::tree(&[
        ("README.md", "# Top\n\n[ok](docs/a.md#a-heading-with-code) [ok](docs/a.md#twice-1) [self](#top)\n[missing](docs/nope.md)\n[anchor](docs/a.md#nothing)\n[escape](../outside.md)\n`[in code](docs/nope.md)`\n\n```md\n[in a block](docs/nope.md)\n```\n"),
        ("docs/a.md", "# A heading with `code`!\n\n## Twice\n\n## Twice\n\n![img](../README.md) [web](https://example.com/x.md) [up](/README.md#top)\n"),
    ]);
    let broken = broken_links(dir.path());
    assert_eq!(broken.len(), 3, "{broken:#?}");
    assert!(broken[0].starts_with("README.md:4: `docs/nope.md`"), "{broken:#?}");
    assert!(broken[1].starts_with("README.md:5: `docs/a.md#nothing`: no heading"), "{broken:#?}");
    assert!(broken[2].starts_with("README.md:6: `../outside.md` points outside"), "{broken:#?}");
}

#[test]
fn github_slugs_drop_punctuation_and_keep_hyphens() {
    assert_eq!(slug("Configuration: `.netseg.yaml`"), "configuration-netsegyaml");
    assert_eq!(slug("NS101 namespace-without-policy"), "ns101-namespace-without-policy");
    assert_eq!(slug("Live clusters: --cluster"), "live-clusters---cluster");
}

/// No user-facing page sends the reader to a path outside the repository or to the internal spec.
#[test]
fn user_facing_docs_cite_nothing_outside_the_repository() {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    files.extend(markdown_files(&root.join("docs")));
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for (n, line) in text.lines().enumerate() {
            assert!(
                !line.contains("../shared") && !line.contains("PRODUCT.md"),
                "{}:{}: points outside the repository: {line}",
                file.display(),
                n + 1
            );
        }
    }
}

/// The README is a front page: at most 200 lines, opening with the two commands that work on a fresh checkout.
#[test]
fn the_readme_is_a_front_page_that_opens_with_the_two_commands() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    assert!(readme.lines().count() <= 200, "README.md has {} lines", readme.lines().count());
    let first_block: Vec<&str> =
        readme.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap_or_default().lines().collect();
    assert!(readme.find("```sh\n") < readme.find("\n## "), "the commands come before the first section");
    assert_eq!(first_block.len(), 2, "{first_block:?}");
    assert!(first_block[0].starts_with("cargo run --release -p netseg -- audit examples/wordpress-flat "));
    assert!(first_block[1].starts_with("cargo test --workspace "));
}

/// The README's three-step tour, run as written: audit fails, `can` confirms the witness, the generated policies
/// close it and `diff` says nothing opens.
#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let witness = "netseg can --from 'blog/wordpress[Deployment]' --to 169.254.169.254 --protocol TCP --port 80";
    assert!(readme.contains(&format!("$ {witness} examples/wordpress-flat")), "the tour's `can` step changed");

    let audit = netseg(&["audit", "examples/wordpress-flat"]);
    assert_eq!(audit.code, 1, "{}", audit.stderr);
    assert!(audit.stdout.contains(&format!("check: {witness} examples/wordpress-flat\n")), "{}", audit.stdout);
    assert!(readme.contains(audit.stdout.lines().next().expect("summary line")), "the tour's audit summary changed");

    let can = ["can", "--from", "blog/wordpress[Deployment]", "--to", "169.254.169.254", "--protocol", "TCP"];
    let allowed = netseg(&[&can[..], &["--port", "80", "examples/wordpress-flat"]].concat());
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert!(allowed.stdout.starts_with("ALLOWED  blog/wordpress[Deployment] → 169.254.169.254 on TCP 80\n"));

    let fixed = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(repo_root().join("examples/wordpress-flat")).expect("example") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, fixed.path().join(path.file_name().expect("name"))).expect("copy");
    }
    let generated = netseg(&["generate", "examples/wordpress-flat"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    std::fs::write(fixed.path().join("netseg-policies.yaml"), &generated.stdout).expect("write policies");
    let fixed_path = fixed.path().display().to_string();

    let diff = netseg(&["diff", "examples/wordpress-flat", &fixed_path]);
    assert_eq!(diff.code, 0, "{}{}", diff.stdout, diff.stderr);
    assert!(diff.stdout.starts_with("netseg diff: 0 connection(s) added,"), "{}", diff.stdout);
    assert_eq!(netseg(&["audit", &fixed_path]).code, 0);
    let denied = netseg(&["can", "--from", "blog/wordpress", "--to", "169.254.169.254", "--port", "80", &fixed_path]);
    assert_eq!(denied.code, 1, "{}", denied.stdout);
}
