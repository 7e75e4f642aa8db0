//! The `wick` command-line tool.

mod bench;
mod bench_llm;
mod bench_ops;
mod demo_cmd;
mod embed;
mod generate;
mod inspect;
mod quantize;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// wick: fast, lean ML inference in Rust.
#[derive(Parser)]
#[command(name = "wick", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text with the small byte-level language model built into the binary
    /// (trained by wick itself on the King James Bible).
    Demo {
        /// Text to continue.
        #[arg(long, default_value = "And God said unto Moses, ")]
        prompt: String,
        /// Bytes to generate.
        #[arg(long, default_value_t = 300)]
        max_tokens: usize,
        /// Sampling temperature (0: always the most likely byte).
        #[arg(long, default_value_t = 0.8)]
        temperature: f64,
        /// Nucleus sampling: keep the smallest set of bytes with this much probability.
        #[arg(long)]
        top_p: Option<f64>,
        /// Seed of the sampler.
        #[arg(long, default_value_t = 299792458)]
        seed: u64,
    },
    /// Show the format, metadata and tensors of weight files (safetensors, npy, npz, pth, gguf).
    Inspect {
        /// Files to inspect.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Read every tensor and count NaN/Inf values (shows a progress bar).
        #[arg(long)]
        verify: bool,
    },
    /// Quantize safetensors weights (a file or a model directory) into a GGUF file.
    Quantize {
        /// A .safetensors file, shard index, or directory of shards.
        input: PathBuf,
        /// The GGUF file to write.
        output: PathBuf,
        /// Block format of the 2-D weights: q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs.
        #[arg(long = "type")]
        ty: String,
        /// Keep the other tensors in f16 instead of f32.
        #[arg(long)]
        dense_f16: bool,
    },
    /// Benchmarks that print JSON lines.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
    /// Sentence embeddings of texts with a BERT sentence-transformers model (JSON or .npy).
    Embed(embed::EmbedArgs),
    /// Generate text with a decoder LLM (Llama, Mistral, Qwen2, Phi-3, GPT-2), streaming it.
    Generate(generate::GenerateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { prompt, max_tokens, temperature, top_p, seed } => {
            demo_cmd::run(&prompt, &wick_cli::demo::GenerateOptions { max_tokens, temperature, top_p, seed })
        }
        Command::Inspect { files, json, verify } => inspect::run(&files, json, verify),
        Command::Quantize { input, output, ty, dense_f16 } => {
            let dense = if dense_f16 { wick::DType::F16 } else { wick::DType::F32 };
            quantize::run(&input, &output, &ty, dense)
        }
        Command::Bench { what } => bench::run(what),
        Command::Embed(args) => embed::run(args),
        Command::Generate(args) => generate::run(args),
    };
    match result {
        Ok(ok) => {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
