//! `wick bench`: workloads that print one JSON line each.

use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Instant;
use wick::Tensor;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Op-level workloads (matmul, elementwise, reductions, conv2d, copies, ...).
    Ops {
        /// Only workloads whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// One JSON object per line (what scripts/compare.py reads).
        #[arg(long)]
        json: bool,
        /// Time budget per workload in milliseconds (at least 10 repeats are always run).
        #[arg(long, default_value_t = 1000)]
        budget_ms: u64,
    },
    /// Time to load a safetensors file and the process's resident memory afterwards.
    Load {
        /// The .safetensors file.
        file: PathBuf,
        /// `mmap`: memory-map and borrow; `read`: read the whole file into memory first.
        #[arg(long, value_enum, default_value = "mmap")]
        mode: LoadMode,
        /// Also read every element once (sums all tensors), as a first forward pass would.
        #[arg(long)]
        touch: bool,
    },
    /// A model's workload: BERT forward of a (batch, seq) block, or decoder-LLM load, prefill
    /// and decode (medians of runs).
    Model(crate::embed::BenchModelArgs),
    /// Write a safetensors file of random f32 tensors of about `mib` MiB (for `bench load`).
    MakeFile {
        /// Output path.
        file: PathBuf,
        /// Approximate size in MiB.
        #[arg(long, default_value_t = 1024)]
        mib: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LoadMode {
    /// Memory-map the file; tensors borrow the mapped pages.
    Mmap,
    /// Read the file into memory, then hand out tensors.
    Read,
}

/// Resident and peak resident memory of this process in MiB (Linux), `None` elsewhere.
pub(crate) fn rss_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

pub fn run(cmd: BenchCommand) -> wick::Result<bool> {
    match cmd {
        BenchCommand::Ops { filter, json, budget_ms } => {
            crate::bench_ops::run(filter.as_deref(), json, budget_ms)
        }
        BenchCommand::Load { file, mode, touch } => {
            let dev = wick::Device::Cpu;
            let start = Instant::now();
            let tensors = match mode {
                LoadMode::Mmap => wick::safetensors::load_mmap(&file, &dev)?,
                LoadMode::Read => wick::safetensors::load(&file, &dev)?,
            };
            let load_s = start.elapsed().as_secs_f64();
            let mut touch_s = 0.0;
            if touch {
                let t0 = Instant::now();
                let mut acc = 0f64;
                for t in tensors.values() {
                    acc += t.to_dtype(wick::DType::F64)?.sum_all()?.to_scalar::<f64>()?;
                }
                touch_s = t0.elapsed().as_secs_f64();
                std::hint::black_box(acc);
            }
            let bytes: usize = tensors.values().map(|t| t.elem_count() * t.dtype().size_in_bytes()).sum();
            let borrowed = tensors.values().filter(|t| t.is_borrowed()).count();
            let (rss, peak) = rss_mib().unwrap_or((f64::NAN, f64::NAN));
            println!(
                "{}",
                serde_json::json!({
                    "bench": "load",
                    "mode": match mode { LoadMode::Mmap => "mmap", LoadMode::Read => "read" },
                    "file_mib": bytes as f64 / 1048576.0,
                    "tensors": tensors.len(),
                    "borrowed": borrowed,
                    "load_ms": load_s * 1e3,
                    "touch_ms": touch_s * 1e3,
                    "rss_mib": rss,
                    "peak_rss_mib": peak,
                })
            );
            Ok(true)
        }
        BenchCommand::Model(args) => crate::embed::bench_model(args),
        BenchCommand::MakeFile { file, mib } => {
            let dev = wick::Device::Cpu;
            let per = 4096 * 4096; // 64 MiB per tensor
            let count = (mib * 1048576 / 4).div_ceil(per).max(1);
            let tensors: Vec<(String, Tensor)> = (0..count)
                .map(|i| Ok((format!("layer.{i}.weight"), Tensor::rand(-1f32, 1., (4096, 4096), &dev)?)))
                .collect::<wick::Result<_>>()?;
            wick::safetensors::save(tensors.iter().map(|(n, t)| (n.as_str(), t)), &file)?;
            println!(
                "{}",
                serde_json::json!({"bench": "make-file", "file": file.display().to_string(), "tensors": count})
            );
            Ok(true)
        }
    }
}
