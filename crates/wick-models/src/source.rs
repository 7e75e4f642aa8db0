//! Where a model's files come from: a local directory, or a Hugging Face hub id
//! (`org/name`, optionally `org/name@revision`) found in the local hub cache. Nothing is
//! downloaded; a model that is not there gives an error saying where it was looked for and
//! how to get it.
//!
//! The hub cache layout (as written by `huggingface-cli download` / `hf download`):
//!
//! ```text
//! $HF_HUB_CACHE (default $HF_HOME/hub, $HF_HOME defaults to ~/.cache/huggingface)
//! └── models--{org}--{name}/
//!     ├── refs/main                  a commit hash
//!     ├── snapshots/{commit}/        config.json, model.safetensors, ... (links into blobs/)
//!     └── blobs/
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use wick::{DType, Device, Error, Result};
use wick_nn::VarBuilder;

/// A local Hugging Face hub cache (the folder holding `models--{org}--{name}` folders).
///
/// ```
/// use wick_models::source::HubCache;
/// let dir = std::env::temp_dir().join(format!("wick-doc-hub-{}", std::process::id()));
/// let repo = dir.join("models--acme--tiny");
/// std::fs::create_dir_all(repo.join("refs"))?;
/// std::fs::create_dir_all(repo.join("snapshots/0123abcd"))?;
/// std::fs::write(repo.join("refs/main"), "0123abcd")?;
/// let found = HubCache::new(&dir).snapshot("acme/tiny", "main")?;
/// assert_eq!(found, repo.join("snapshots/0123abcd"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubCache {
    root: PathBuf,
}

impl HubCache {
    /// The cache in `root` (the folder with the `models--*` folders).
    pub fn new<P: AsRef<Path>>(root: P) -> Self {
        HubCache { root: root.as_ref().to_path_buf() }
    }

    /// The cache Hugging Face's own tools use: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. `None` when none of
    /// these variables is set.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let root = var("HF_HUB_CACHE")
            .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
            .or_else(|| var("XDG_CACHE_HOME").map(|c| c.join("huggingface").join("hub")))
            .or_else(|| var("HOME").map(|h| h.join(".cache").join("huggingface").join("hub")))?;
        Some(HubCache { root })
    }

    /// The cache folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of `repo_id`'s files at `revision` (a branch or tag name under `refs/`, or
    /// a commit hash under `snapshots/`).
    pub fn snapshot(&self, repo_id: &str, revision: &str) -> Result<PathBuf> {
        let (org, name) = parse_repo_id(repo_id).ok_or_else(|| {
            Error::invalid(
                "hub cache",
                format!(
                    "{repo_id:?} is not a hub id of the form \"org/name\" (letters, digits, '-', '_', '.')"
                ),
            )
        })?;
        if !valid_revision(revision) {
            return Err(Error::invalid("hub cache", format!("{revision:?} is not a valid revision")));
        }
        let repo = self.root.join(format!("models--{org}--{name}"));
        let not_found = |detail: String| {
            Error::invalid(
                "hub cache",
                format!(
                    "model {repo_id:?} (revision {revision:?}) is not in the Hugging Face cache: {detail}. \
                     Download it with `huggingface-cli download {repo_id}` (or `hf download {repo_id}`), \
                     set HF_HOME / HF_HUB_CACHE to the cache that has it, or pass a local directory"
                ),
            )
        };
        if !repo.is_dir() {
            return Err(not_found(format!("{} does not exist", repo.display())));
        }
        let by_commit = repo.join("snapshots").join(revision);
        let ref_file = repo.join("refs").join(revision);
        let commit = if ref_file.is_file() {
            let text = std::fs::read_to_string(&ref_file).map_err(|e| Error::io(&ref_file, e))?;
            let commit = text.trim().to_string();
            if !valid_commit(&commit) {
                return Err(Error::format(
                    "hub cache",
                    format!("{}: {commit:?} is not a commit hash", ref_file.display()),
                ));
            }
            commit
        } else if by_commit.is_dir() {
            revision.to_string()
        } else {
            return Err(not_found(format!(
                "neither {} nor {} exists",
                ref_file.display(),
                by_commit.display()
            )));
        };
        let snap = repo.join("snapshots").join(&commit);
        if !snap.is_dir() {
            return Err(not_found(format!(
                "{} (from {}) does not exist",
                snap.display(),
                ref_file.display()
            )));
        }
        Ok(snap)
    }
}

/// `org/name` → `(org, name)` when both parts are plain names (no path tricks).
fn parse_repo_id(id: &str) -> Option<(&str, &str)> {
    let (org, name) = id.split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && !s.contains("..")
            && !s.contains("--")
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (ok(org) && ok(name)).then_some((org, name))
}

fn valid_revision(rev: &str) -> bool {
    !rev.is_empty()
        && !rev.contains("..")
        && !rev.starts_with('/')
        && rev.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_commit(c: &str) -> bool {
    !c.is_empty() && c.len() <= 64 && c.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Finds a model: `spec` is a local directory or file (a GGUF model), or a hub id `org/name[@revision]` looked up in
/// `cache` (revision `main` by default). A local path wins over a hub id of the same
/// spelling.
pub fn resolve_with(spec: &str, cache: Option<&HubCache>) -> Result<PathBuf> {
    let local = Path::new(spec);
    if local.is_dir() || local.is_file() {
        return Ok(local.to_path_buf());
    }
    let (id, rev) = spec.split_once('@').unwrap_or((spec, "main"));
    if parse_repo_id(id).is_none() {
        return Err(Error::invalid(
            "model source",
            format!("{spec:?} is neither a directory nor a hub id of the form \"org/name[@revision]\""),
        ));
    }
    match cache {
        Some(c) => {
            c.snapshot(id, rev).map_err(|e| e.context(format!("{spec:?} is not a local directory either")))
        }
        None => Err(Error::invalid(
            "model source",
            format!(
                "{spec:?} is not a local directory, and no Hugging Face cache is known (set HF_HOME or \
                 HF_HUB_CACHE); download it with `huggingface-cli download {id}` or pass a directory"
            ),
        )),
    }
}

/// [`resolve_with`] the cache given by the environment ([`HubCache::from_env`]).
pub fn resolve(spec: &str) -> Result<PathBuf> {
    resolve_with(spec, HubCache::from_env().as_ref())
}

/// The files of a model directory: `config.json`, the weights (`model.safetensors`, the
/// shards of `model.safetensors.index.json`, or `pytorch_model.bin`), and `tokenizer.json`
/// when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The directory.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: PathBuf,
    /// The weights.
    pub weights: Weights,
    /// `tokenizer.json`, if the directory has one.
    pub tokenizer: Option<PathBuf>,
}

/// The weight files of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weights {
    /// One or more safetensors files (memory-mapped).
    Safetensors(Vec<PathBuf>),
    /// A PyTorch state dict (read with the safe unpickler).
    Pth(PathBuf),
}

impl ModelFiles {
    /// Lists the files of `dir`; errors name what is missing.
    pub fn in_dir(dir: &Path) -> Result<ModelFiles> {
        if !dir.is_dir() {
            return Err(Error::invalid("model files", format!("{} is not a directory", dir.display())));
        }
        let config = dir.join("config.json");
        if !config.is_file() {
            return Err(Error::invalid(
                "model files",
                format!("{} has no config.json (is it a Hugging Face model directory?)", dir.display()),
            ));
        }
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let pth = dir.join("pytorch_model.bin");
        let weights = if single.is_file() {
            Weights::Safetensors(vec![single])
        } else if index.is_file() {
            Weights::Safetensors(shards_of_index(&index)?)
        } else if pth.is_file() {
            Weights::Pth(pth)
        } else {
            return Err(Error::invalid(
                "model files",
                format!(
                    "{} has no weights (looked for model.safetensors, model.safetensors.index.json, \
                     pytorch_model.bin)",
                    dir.display()
                ),
            ));
        };
        let tok = dir.join("tokenizer.json");
        Ok(ModelFiles { dir: dir.to_path_buf(), config, weights, tokenizer: tok.is_file().then_some(tok) })
    }

    /// A [`VarBuilder`] over the weights, converting to `dtype` on the CPU.
    pub fn var_builder(&self, dtype: DType) -> Result<VarBuilder> {
        match &self.weights {
            Weights::Safetensors(files) => VarBuilder::from_mmaped_safetensors(files, dtype, &Device::Cpu),
            Weights::Pth(file) => VarBuilder::from_pth(file, dtype, &Device::Cpu),
        }
    }
}

impl fmt::Display for ModelFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dir.display())
    }
}

/// The shard files a `model.safetensors.index.json` names, each once, inside its directory.
fn shards_of_index(index: &Path) -> Result<Vec<PathBuf>> {
    let bad = |msg: String| Error::format("safetensors index", format!("{}: {msg}", index.display()));
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no \"weight_map\" object".into()))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = Vec::new();
    for (name, v) in map {
        let f = v.as_str().ok_or_else(|| bad(format!("entry {name:?} is not a file name")))?;
        if f.is_empty() || f.contains("..") || f.contains('/') || f.contains('\\') {
            return Err(bad(format!("shard name {f:?} must be a file in the model directory")));
        }
        let p = dir.join(f);
        if !files.contains(&p) {
            files.push(p);
        }
    }
    if files.is_empty() {
        return Err(bad("the weight map is empty".into()));
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!("wick-models-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fake cache with the real layout: blobs, a snapshot whose files link to them, refs.
    fn fake_cache(root: &Path) -> PathBuf {
        let repo = root.join("models--sentence-transformers--all-MiniLM-L6-v2");
        let commit = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
        let snap = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("blobs/abc123"), "{}").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("../../blobs/abc123", snap.join("config.json")).unwrap();
        #[cfg(not(unix))]
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::write(repo.join("refs/main"), format!("{commit}\n")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/1111")).unwrap();
        std::fs::write(repo.join("refs/v1"), "1111").unwrap();
        snap
    }

    #[test]
    fn resolves_refs_commits_and_local_dirs() {
        let tmp = TempDir::new("hub");
        let snap = fake_cache(&tmp.0);
        let cache = HubCache::new(&tmp.0);
        let id = "sentence-transformers/all-MiniLM-L6-v2";
        assert_eq!(resolve_with(id, Some(&cache)).unwrap(), snap);
        assert_eq!(std::fs::read_to_string(snap.join("config.json")).unwrap(), "{}");
        let by_tag = resolve_with(&format!("{id}@v1"), Some(&cache)).unwrap();
        assert!(by_tag.ends_with("snapshots/1111"));
        let by_commit = resolve_with(&format!("{id}@c9745ed1d9f207416be6d2e6f8de32d1f16199bf"), Some(&cache));
        assert_eq!(by_commit.unwrap(), snap);
        // A directory is taken as it is, hub cache or not.
        let dir = tmp.0.to_str().unwrap();
        assert_eq!(resolve_with(dir, None).unwrap(), tmp.0);
    }

    #[test]
    fn missing_models_say_where_and_how() {
        let tmp = TempDir::new("hub-missing");
        fake_cache(&tmp.0);
        let cache = HubCache::new(&tmp.0);
        let e = resolve_with("acme/nothing", Some(&cache)).unwrap_err().to_string();
        assert!(e.contains("models--acme--nothing"), "{e}");
        assert!(e.contains("huggingface-cli download acme/nothing"), "{e}");
        let e = resolve_with("sentence-transformers/all-MiniLM-L6-v2@dev", Some(&cache)).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("refs/dev") && e.contains("snapshots/dev"), "{e}");
        let e = resolve_with("acme/nothing", None).unwrap_err().to_string();
        assert!(e.contains("HF_HOME") && e.contains("huggingface-cli download"), "{e}");
        let e = resolve_with("not a model", Some(&cache)).unwrap_err().to_string();
        assert!(e.contains("neither a directory nor a hub id"), "{e}");
    }

    #[test]
    fn rejects_path_tricks_and_bad_refs() {
        let tmp = TempDir::new("hub-bad");
        let snap = fake_cache(&tmp.0);
        let cache = HubCache::new(&tmp.0);
        for id in ["../etc", "a/..", "a/b/c", "/abs", "a--b/c", "a/"] {
            assert!(cache.snapshot(id, "main").is_err(), "{id}");
        }
        assert!(cache.snapshot("sentence-transformers/all-MiniLM-L6-v2", "../../x").is_err());
        let repo = snap.parent().unwrap().parent().unwrap();
        std::fs::write(repo.join("refs/main"), "../../../tmp").unwrap();
        let e = cache.snapshot("sentence-transformers/all-MiniLM-L6-v2", "main").unwrap_err().to_string();
        assert!(e.contains("not a commit hash"), "{e}");
        std::fs::write(repo.join("refs/main"), "deadbeef").unwrap();
        let e = cache.snapshot("sentence-transformers/all-MiniLM-L6-v2", "main").unwrap_err().to_string();
        assert!(e.contains("snapshots/deadbeef"), "{e}");
    }

    #[test]
    fn model_files_name_what_is_missing() {
        let tmp = TempDir::new("files");
        let e = ModelFiles::in_dir(&tmp.0).unwrap_err().to_string();
        assert!(e.contains("no config.json"), "{e}");
        std::fs::write(tmp.0.join("config.json"), "{}").unwrap();
        let e = ModelFiles::in_dir(&tmp.0).unwrap_err().to_string();
        assert!(e.contains("model.safetensors") && e.contains("pytorch_model.bin"), "{e}");
        let index = tmp.0.join("model.safetensors.index.json");
        std::fs::write(&index, r#"{"weight_map": {"a": "../x.safetensors"}}"#).unwrap();
        assert!(ModelFiles::in_dir(&tmp.0).unwrap_err().to_string().contains("model directory"));
        std::fs::write(
            &index,
            r#"{"weight_map": {"a": "m-2.safetensors", "b": "m-1.safetensors", "c": "m-2.safetensors"}}"#,
        )
        .unwrap();
        let f = ModelFiles::in_dir(&tmp.0).unwrap();
        let want = vec![tmp.0.join("m-1.safetensors"), tmp.0.join("m-2.safetensors")];
        assert_eq!(f.weights, Weights::Safetensors(want));
        assert_eq!(f.tokenizer, None);
    }
}
