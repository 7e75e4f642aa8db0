//! Trains the `wick demo` model with wick's own autograd and optimizer: a byte-level GPT on
//! the King James Version of the Bible (public domain, from Debian's archive; run
//! `scripts/get_demo_corpus.sh` first).
//!
//! ```text
//! bash scripts/get_demo_corpus.sh
//! cargo run --release --example train_char_lm -- --steps 1500
//! ```
//!
//! Writes, under `crates/wick-cli/demo/`: `char_lm.safetensors` (f16 weights),
//! `config.json`, `loss.csv` and `loss.svg` (the loss curve), and prints the held-out loss
//! next to a unigram baseline.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use wick::{DType, Device, Error, Result, Tensor};
use wick_cli::demo::{CharLm, CharLmConfig};
use wick_nn::{loss, AdamW, CosineWithWarmup, Optimizer, ParamsAdamW, VarMap};

struct Args {
    data: PathBuf,
    out: PathBuf,
    steps: usize,
    batch: usize,
    lr: f64,
    seed: u64,
}

fn parse_args() -> Result<Args> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        data: root.join("../../target/demo-data/kjv.txt"),
        out: root.join("demo"),
        steps: 1500,
        batch: 32,
        lr: 3e-3,
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value =
            it.next().ok_or_else(|| Error::invalid("train_char_lm", format!("{flag} needs a value")))?;
        let num = |v: &str| {
            v.parse::<f64>().map_err(|e| Error::invalid("train_char_lm", format!("{flag} {v}: {e}")))
        };
        match flag.as_str() {
            "--data" => a.data = value.into(),
            "--out" => a.out = value.into(),
            "--steps" => a.steps = num(&value)? as usize,
            "--batch" => a.batch = num(&value)? as usize,
            "--lr" => a.lr = num(&value)?,
            "--seed" => a.seed = num(&value)? as u64,
            _ => return Err(Error::invalid("train_char_lm", format!("unknown flag {flag}"))),
        }
    }
    Ok(a)
}

/// xorshift64*: the batch sampler's random numbers.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as usize % n
    }
}

/// Inputs and next-byte targets `(b, t)` starting at `offsets`.
fn batch(text: &[u8], offsets: &[usize], t: usize) -> Result<(Tensor, Tensor)> {
    let (mut x, mut y) = (Vec::with_capacity(offsets.len() * t), Vec::with_capacity(offsets.len() * t));
    for &o in offsets {
        x.extend(text[o..o + t].iter().map(|&b| u32::from(b)));
        y.extend(text[o + 1..o + t + 1].iter().map(|&b| u32::from(b)));
    }
    let dev = Device::Cpu;
    Ok((Tensor::from_vec(x, (offsets.len(), t), &dev)?, Tensor::from_vec(y, offsets.len() * t, &dev)?))
}

fn lm_loss(model: &CharLm, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let logits = model.forward(x, 0, None)?;
    let (b, t, v) = logits.dims3()?;
    loss::cross_entropy(&logits.reshape((b * t, v))?, y)
}

/// Mean loss (nats per byte) over evenly spaced windows of the held-out text.
fn held_out_loss(model: &CharLm, text: &[u8], t: usize) -> Result<f64> {
    let n = 64;
    let stride = (text.len() - t - 1) / n;
    let offsets: Vec<usize> = (0..n).map(|i| i * stride).collect();
    let mut total = 0.0;
    for chunk in offsets.chunks(16) {
        let (x, y) = batch(text, chunk, t)?;
        total += lm_loss(model, &x, &y)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
    }
    Ok(total / n as f64)
}

/// Cross-entropy of the held-out bytes under the training text's byte frequencies
/// (add-one smoothing): what a model that ignores context scores.
fn unigram_loss(train: &[u8], held_out: &[u8]) -> f64 {
    let mut counts = [1f64; 256];
    for &b in train {
        counts[b as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    held_out.iter().map(|&b| -(counts[b as usize] / total).ln()).sum::<f64>() / held_out.len() as f64
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let text = std::fs::read(&args.data).map_err(|e| {
        Error::invalid(
            "train_char_lm",
            format!("{}: {e} (run scripts/get_demo_corpus.sh first)", args.data.display()),
        )
    })?;
    let cfg = CharLmConfig::demo();
    let t = cfg.context;
    let split = text.len() * 95 / 100;
    let (train, held_out) = (&text[..split], &text[split..]);
    let unigram = unigram_loss(train, held_out);
    println!(
        "data: {} bytes ({} train, {} held out); unigram baseline {unigram:.3} nats/byte",
        text.len(),
        train.len(),
        held_out.len()
    );

    let dev = Device::Cpu;
    dev.set_seed(args.seed)?;
    let varmap = VarMap::new();
    let model = CharLm::new(cfg, varmap.var_builder(DType::F32, &dev))?;
    println!("model: {} parameters, {cfg:?}", cfg.param_count());
    let params = ParamsAdamW { lr: args.lr, weight_decay: 0.01, ..Default::default() };
    let mut opt = AdamW::new(varmap.all_vars(), params)?;
    let schedule = CosineWithWarmup::new(args.lr, args.lr / 10.0, 100.min(args.steps), args.steps)?;

    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut curve: Vec<(usize, f64, Option<f64>)> = Vec::new();
    let mut smooth = None::<f64>;
    let start = Instant::now();
    for step in 1..=args.steps {
        opt.set_learning_rate(schedule.lr_at(step));
        let offsets: Vec<usize> = (0..args.batch).map(|_| rng.below(train.len() - t - 1)).collect();
        let (x, y) = batch(train, &offsets, t)?;
        let loss = lm_loss(&model, &x, &y)?;
        opt.backward_step(&loss)?;
        let l = loss.to_scalar::<f32>()? as f64;
        let s = smooth.map_or(l, |s| 0.95 * s + 0.05 * l);
        smooth = Some(s);
        let eval = if step % 100 == 0 || step == args.steps {
            Some(held_out_loss(&model, held_out, t)?)
        } else {
            None
        };
        if step % 25 == 0 || eval.is_some() {
            let elapsed = start.elapsed().as_secs_f64();
            let tps = (step * args.batch * t) as f64 / elapsed;
            let ev = eval.map(|e| format!(", held-out {e:.3}")).unwrap_or_default();
            println!(
                "step {step:5}  loss {l:.3} (smoothed {s:.3}{ev})  lr {:.2e}  {tps:.0} tok/s",
                schedule.lr_at(step)
            );
        }
        curve.push((step, s, eval));
    }
    let final_loss = held_out_loss(&model, held_out, t)?;
    println!(
        "held-out loss {final_loss:.3} nats/byte ({:.3} bits) vs unigram {unigram:.3}; {:.0} s",
        final_loss / std::f64::consts::LN_2,
        start.elapsed().as_secs_f64()
    );

    std::fs::create_dir_all(&args.out)?;
    let weights: HashMap<String, Tensor> = varmap
        .named_vars()
        .into_iter()
        .map(|(name, v)| Ok((name, v.as_tensor().detach().to_dtype(DType::F16)?)))
        .collect::<Result<_>>()?;
    wick::safetensors::save(
        weights.iter().map(|(k, v)| (k.as_str(), v)),
        args.out.join("char_lm.safetensors"),
    )?;
    std::fs::write(args.out.join("config.json"), cfg.to_json() + "\n")?;
    let mut csv = String::from("step,train_loss_smoothed,held_out_loss\n");
    for (step, s, e) in &curve {
        let _ = writeln!(csv, "{step},{s:.4},{}", e.map(|e| format!("{e:.4}")).unwrap_or_default());
    }
    std::fs::write(args.out.join("loss.csv"), csv)?;
    std::fs::write(args.out.join("loss.svg"), loss_svg(&curve, unigram))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The loss curve as a small standalone SVG: smoothed training loss (line), held-out loss
/// (dots) and the unigram baseline (dashed).
fn loss_svg(curve: &[(usize, f64, Option<f64>)], unigram: f64) -> String {
    let (w, h, m) = (640.0, 360.0, 48.0);
    let steps = curve.last().map_or(1, |c| c.0) as f64;
    let y_max = curve.iter().map(|c| c.1).fold(unigram, f64::max).ceil();
    let x = |s: f64| m + (w - 2.0 * m) * s / steps;
    let y = |l: f64| h - m - (h - 2.0 * m) * l / y_max;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\">wick demo model: loss (nats/byte) by training step</text>\n",
        w / 2.0
    );
    let _ = writeln!(
        svg,
        "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        h - m,
        w - m,
        h - m
    );
    let _ = writeln!(svg, "<line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>", h - m);
    for i in 0..=y_max as usize {
        let yy = y(i as f64);
        let _ = writeln!(svg, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{i}</text>", m - 6.0, yy + 4.0);
        let _ = writeln!(svg, "<line x1=\"{m}\" y1=\"{yy}\" x2=\"{}\" y2=\"{yy}\" stroke=\"#eee\"/>", w - m);
    }
    for i in 0..=4 {
        let s = steps * i as f64 / 4.0;
        let _ =
            writeln!(svg, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{s:.0}</text>", x(s), h - m + 16.0);
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{m}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"gray\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{1}\" y=\"{2}\" text-anchor=\"end\" fill=\"gray\">unigram baseline {unigram:.2}</text>",
        y(unigram),
        w - m,
        y(unigram) - 6.0
    );
    let points: Vec<String> = curve.iter().map(|c| format!("{:.1},{:.1}", x(c.0 as f64), y(c.1))).collect();
    let _ = writeln!(
        svg,
        "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/>",
        points.join(" ")
    );
    for (s, _, e) in curve {
        if let Some(e) = e {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#d62728\"/>",
                x(*s as f64),
                y(*e)
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">train (smoothed)</text><text x=\"{}\" y=\"{}\" fill=\"#d62728\">held out</text>",
        w - m - 200.0,
        m + 10.0,
        w - m - 80.0,
        m + 10.0
    );
    svg.push_str("</svg>\n");
    svg
}
