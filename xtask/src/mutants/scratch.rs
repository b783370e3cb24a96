//! The scratch copy of the workspace that mutants are applied to, so the working tree is never
//! touched.
//!
//! It holds the files `git ls-files` lists (tracked, and untracked ones not ignored), as they are
//! in the working tree, so uncommitted edits count. It is kept between runs: a file is written
//! only when its contents differ, so cargo rebuilds only what changed, and a mutant left behind
//! by an interrupted run is undone by the next sync.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A synced copy of the workspace.
pub(super) struct Scratch {
    root: PathBuf,
}

impl Scratch {
    /// Makes `dest` a copy of the workspace at `source`.
    pub(super) fn sync(source: &Path, dest: &Path) -> Result<Self> {
        let files = listed_files(source)?;
        let mut written = 0;
        for file in &files {
            let from = source.join(file);
            // Listed but deleted in the working tree: the copy goes without it too.
            let Ok(contents) = fs::read(&from) else { continue };
            let to = dest.join(file);
            if fs::read(&to).is_ok_and(|existing| existing == contents) {
                continue;
            }
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            fs::write(&to, &contents).with_context(|| format!("writing {}", to.display()))?;
            written += 1;
        }
        let removed = remove_unlisted(dest, dest, &files)?;
        eprintln!(
            "xtask: {} files in {} ({written} written, {removed} removed)",
            files.len(),
            dest.display()
        );
        Ok(Self { root: dest.to_owned() })
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// The text of `file` (relative to the root).
    pub(super) fn read(&self, file: &str) -> Result<String> {
        let path = self.root.join(file);
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// Replaces the text of `file` (relative to the root).
    pub(super) fn write(&self, file: &str, text: &str) -> Result<()> {
        let path = self.root.join(file);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// The workspace's files, relative to `root`: tracked ones and untracked ones git does not ignore.
fn listed_files(root: &Path) -> Result<BTreeSet<PathBuf>> {
    let output = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output()
        .context("could not run `git ls-files`")?;
    if !output.status.success() {
        bail!("`git ls-files` failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let listing =
        String::from_utf8(output.stdout).context("`git ls-files` printed a name that is not UTF-8")?;
    Ok(listing.split('\0').filter(|name| !name.is_empty()).map(PathBuf::from).collect())
}

/// Deletes the files under `dir` that `files` (relative to `root`) does not list: files the
/// workspace no longer has. Returns how many.
fn remove_unlisted(root: &Path, dir: &Path, files: &BTreeSet<PathBuf>) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry.context("reading a directory entry")?.path();
        if path.is_dir() {
            removed += remove_unlisted(root, &path, files)?;
        } else if !files.contains(path.strip_prefix(root).expect("walked from root")) {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}
