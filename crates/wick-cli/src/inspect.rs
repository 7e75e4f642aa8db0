//! `wick inspect`: what is inside a weight file.

use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use wick::{DType, Tensor};

/// One tensor row of the listing.
struct Row {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    bytes: usize,
}

/// Everything `inspect` prints about one file.
struct Summary {
    format: &'static str,
    metadata: Vec<(String, String)>,
    rows: Vec<Row>,
    /// Loads one tensor by row index (for `--verify`); `None` for quantized/opaque data.
    loader: Box<dyn Fn(usize) -> wick::Result<Option<Tensor>>>,
}

fn dense_rows(tensors: &[(String, Tensor)]) -> Vec<Row> {
    tensors
        .iter()
        .map(|(n, t)| Row {
            name: n.clone(),
            dtype: t.dtype().to_string(),
            shape: t.dims().to_vec(),
            bytes: t.elem_count() * t.dtype().size_in_bytes(),
        })
        .collect()
}

fn summary_of_loaded(format: &'static str, tensors: Vec<(String, Tensor)>) -> Summary {
    let rows = dense_rows(&tensors);
    Summary {
        format,
        metadata: vec![],
        rows,
        loader: Box::new(move |i| Ok(tensors.get(i).map(|(_, t)| t.clone()))),
    }
}

fn sniff(path: &Path) -> wick::Result<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path).map_err(|e| wick::Error::io(path, e))?;
    let n = f.read(&mut head).map_err(|e| wick::Error::io(path, e))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    Ok(match &head[..n.min(8)] {
        [b'G', b'G', b'U', b'F', ..] => "gguf",
        [0x93, b'N', b'U', b'M', b'P', b'Y', ..] => "npy",
        [b'P', b'K', ..] if ext == "npz" => "npz",
        [b'P', b'K', ..] => "pth",
        _ if ext == "safetensors" || n == 8 => "safetensors",
        _ => {
            return Err(wick::Error::format(
                "inspect",
                format!("{}: not a safetensors, npy, npz, pth or gguf file", path.display()),
            ))
        }
    })
}

fn summarize(path: &Path) -> wick::Result<Summary> {
    let dev = wick::Device::Cpu;
    match sniff(path)? {
        "safetensors" => {
            let st = wick::safetensors::MmapedSafetensors::new(path)?;
            let names: Vec<String> = st.names().into_iter().map(String::from).collect();
            let mut rows = Vec::with_capacity(names.len());
            for n in &names {
                let (dtype, shape, bytes) = st.info(n)?;
                rows.push(Row { name: n.clone(), dtype: dtype.to_lowercase(), shape, bytes });
            }
            let mut metadata: Vec<(String, String)> = st.metadata().into_iter().collect();
            metadata.sort();
            Ok(Summary {
                format: "safetensors",
                metadata,
                rows,
                loader: Box::new(move |i| st.get(&names[i]).map(Some)),
            })
        }
        "npy" => Ok(summary_of_loaded("npy", vec![("array".to_string(), Tensor::read_npy(path)?)])),
        "npz" => Ok(summary_of_loaded("npz", wick::npz::read(path)?)),
        "pth" => Ok(summary_of_loaded("pth", wick::pth::read(path)?)),
        _ => gguf_summary(path, &dev),
    }
}

fn gguf_summary(path: &Path, _dev: &wick::Device) -> wick::Result<Summary> {
    let file = wick::gguf::GgufFile::open(path)?;
    let content = file.content();
    let metadata = content.metadata.iter().map(|(k, v)| (k.clone(), v.describe())).collect();
    let rows: Vec<Row> = content
        .tensor_infos
        .iter()
        .map(|ti| Row {
            name: ti.name.clone(),
            dtype: ti.dtype.to_string(),
            shape: ti.shape.clone(),
            bytes: ti.size_in_bytes,
        })
        .collect();
    let names: Vec<(String, bool)> =
        content.tensor_infos.iter().map(|ti| (ti.name.clone(), !ti.dtype.is_quantized())).collect();
    Ok(Summary {
        format: "gguf",
        metadata,
        rows,
        loader: Box::new(move |i| match names.get(i) {
            Some((n, true)) => file.tensor(n).map(Some),
            _ => Ok(None),
        }),
    })
}

fn human_bytes(b: usize) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Counts NaN and Inf values in a float tensor.
fn non_finite(t: &Tensor) -> wick::Result<(usize, usize)> {
    if !t.dtype().is_float() {
        return Ok((0, 0));
    }
    let v = t.to_dtype(DType::F64)?.flatten_to_vec::<f64>()?;
    Ok((v.iter().filter(|x| x.is_nan()).count(), v.iter().filter(|x| x.is_infinite()).count()))
}

/// Inspects each file; returns `Ok(false)` if any file failed (its error already printed).
pub fn run(files: &[std::path::PathBuf], json: bool, verify: bool) -> wick::Result<bool> {
    let mut all_ok = true;
    let mut json_out = Vec::new();
    for path in files {
        let s = match summarize(path) {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                // Loader errors already name the file; add it only when they do not.
                if msg.contains(&path.display().to_string()) {
                    eprintln!("error: {msg}");
                } else {
                    eprintln!("error: {}: {msg}", path.display());
                }
                all_ok = false;
                continue;
            }
        };
        let mut bad: Vec<(usize, usize, usize)> = Vec::new();
        if verify {
            let bar = ProgressBar::new(s.rows.len() as u64);
            bar.set_style(
                ProgressStyle::with_template("{spinner} verifying [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            for i in 0..s.rows.len() {
                bar.set_message(s.rows[i].name.clone());
                match (s.loader)(i) {
                    Ok(Some(t)) => {
                        let (nan, inf) = non_finite(&t)?;
                        if nan + inf > 0 {
                            bad.push((i, nan, inf));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        bar.finish_and_clear();
                        eprintln!("error: {}: {e}", path.display());
                        all_ok = false;
                        break;
                    }
                }
                bar.inc(1);
            }
            bar.finish_and_clear();
        }
        let total: usize = s.rows.iter().map(|r| r.bytes).sum();
        if json {
            json_out.push(serde_json::json!({
                "file": path.display().to_string(),
                "format": s.format,
                "metadata": s.metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
                "tensors": s.rows.iter().map(|r| serde_json::json!({"name": r.name, "dtype": r.dtype, "shape": r.shape, "bytes": r.bytes})).collect::<Vec<_>>(),
                "total_bytes": total,
                "non_finite": bad.iter().map(|(i, n, f)| serde_json::json!({"name": s.rows[*i].name, "nan": n, "inf": f})).collect::<Vec<_>>(),
            }));
            continue;
        }
        println!("{}  ({}, {} tensors, {})", path.display(), s.format, s.rows.len(), human_bytes(total));
        for (k, v) in &s.metadata {
            let v = if v.len() > 100 {
                format!("{}…", &v[..v.char_indices().nth(100).map_or(v.len(), |c| c.0)])
            } else {
                v.clone()
            };
            println!("  {k} = {v}");
        }
        let w = s.rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        println!("  {:<w$}  {:<8}  {:<20}  {:>10}", "name", "dtype", "shape", "bytes");
        for r in &s.rows {
            println!(
                "  {:<w$}  {:<8}  {:<20}  {:>10}",
                r.name,
                r.dtype,
                format!("{:?}", r.shape),
                human_bytes(r.bytes)
            );
        }
        if verify {
            if bad.is_empty() {
                println!("  verified: every float tensor is finite");
            }
            for (i, nan, inf) in &bad {
                println!("  {}: {nan} NaN, {inf} Inf", s.rows[*i].name);
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_out)
                .map_err(|e| wick::Error::invalid("inspect", e.to_string()))?
        );
    }
    Ok(all_ok)
}
