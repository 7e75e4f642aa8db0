//! [`LogitsProcessor`]: picks the next token from a vector of logits — greedy, or sampled
//! after temperature, top-k, top-p (nucleus) and min-p filtering, with an optional repetition
//! penalty — using a small seedable generator, so a seed reproduces a generation exactly.

use wick::{DType, Error, Result, Tensor};

/// xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64.
#[derive(Debug, Clone)]
struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng { s: [next(), next(), next(), next()] }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// How tokens are chosen. `Default` is greedy with no penalty.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SamplingConfig {
    /// Softmax temperature; `None` or `0` means greedy (argmax).
    pub temperature: Option<f64>,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches `p`.
    pub top_p: Option<f64>,
    /// Keep tokens whose probability is at least `min_p` times the largest.
    pub min_p: Option<f64>,
    /// Hugging Face's repetition penalty (`> 1` discourages repeats): logits of previous
    /// tokens are divided by it when positive, multiplied when negative. `None` or `1` is off.
    pub repetition_penalty: Option<f64>,
}

/// Chooses tokens from logits; deterministic for a given seed and call sequence.
///
/// ```
/// use wick::{Device, Tensor};
/// use wick_nn::{LogitsProcessor, SamplingConfig};
/// let logits = Tensor::new(&[0.1f32, 3.0, -1.0, 2.9], &Device::Cpu)?;
/// let mut greedy = LogitsProcessor::new(42, None, None);
/// assert_eq!(greedy.sample(&logits)?, 1);
/// let cfg = SamplingConfig { temperature: Some(0.8), top_k: Some(2), ..Default::default() };
/// let mut lp = LogitsProcessor::from_config(42, cfg)?;
/// let t = lp.sample(&logits)?;
/// assert!(t == 1 || t == 3);
/// # Ok::<(), wick::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LogitsProcessor {
    cfg: SamplingConfig,
    rng: Rng,
}

fn check_cfg(cfg: &SamplingConfig) -> Result<()> {
    const OP: &str = "LogitsProcessor";
    let bad = |what: &str, v: f64| Error::invalid(OP, format!("{what} = {v} is out of range"));
    if let Some(t) = cfg.temperature {
        if !(t.is_finite() && t >= 0.0) {
            return Err(bad("temperature", t));
        }
    }
    if let Some(p) = cfg.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(bad("top_p", p));
        }
    }
    if let Some(p) = cfg.min_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(bad("min_p", p));
        }
    }
    if cfg.top_k == Some(0) {
        return Err(Error::invalid(OP, "top_k must be at least 1"));
    }
    if let Some(r) = cfg.repetition_penalty {
        if !(r.is_finite() && r > 0.0) {
            return Err(bad("repetition_penalty", r));
        }
    }
    Ok(())
}

/// Applies Hugging Face's repetition penalty in place: each distinct token of `previous`
/// has its logit divided by `penalty` if positive, multiplied if negative.
pub fn apply_repetition_penalty(logits: &mut [f32], penalty: f64, previous: &[u32]) -> Result<()> {
    let mut seen = vec![false; logits.len()];
    for &t in previous {
        let i = t as usize;
        let Some(l) = logits.get_mut(i) else {
            return Err(Error::invalid(
                "apply_repetition_penalty",
                format!("token {t} is outside a vocabulary of {}", seen.len()),
            ));
        };
        if !std::mem::replace(&mut seen[i], true) {
            *l = if *l >= 0.0 { (*l as f64 / penalty) as f32 } else { (*l as f64 * penalty) as f32 };
        }
    }
    Ok(())
}

impl LogitsProcessor {
    /// Greedy when `temperature` is `None` or 0, else sampling at `temperature`, after top-p
    /// filtering when `top_p` is given.
    pub fn new(seed: u64, temperature: Option<f64>, top_p: Option<f64>) -> Self {
        let cfg = SamplingConfig { temperature, top_p, ..Default::default() };
        // Out-of-range values fall back to the nearest valid behaviour rather than failing.
        let cfg = match check_cfg(&cfg) {
            Ok(()) => cfg,
            Err(_) => SamplingConfig {
                top_p: None,
                temperature: temperature.filter(|t| t.is_finite() && *t > 0.0),
                ..cfg
            },
        };
        LogitsProcessor { cfg, rng: Rng::new(seed) }
    }

    /// A processor for `cfg`, checked (e.g. `top_p` in `(0, 1]`).
    pub fn from_config(seed: u64, cfg: SamplingConfig) -> Result<Self> {
        check_cfg(&cfg)?;
        Ok(LogitsProcessor { cfg, rng: Rng::new(seed) })
    }

    /// The configuration.
    pub fn config(&self) -> &SamplingConfig {
        &self.cfg
    }

    /// The next token for 1-D `logits` (any float dtype).
    pub fn sample(&mut self, logits: &Tensor) -> Result<u32> {
        self.sample_with_history(logits, &[])
    }

    /// Like [`LogitsProcessor::sample`], applying the repetition penalty over `previous`.
    pub fn sample_with_history(&mut self, logits: &Tensor, previous: &[u32]) -> Result<u32> {
        const OP: &str = "LogitsProcessor::sample";
        if logits.rank() != 1 {
            return Err(Error::RankMismatch { op: OP, expected: 1, shape: logits.shape().clone() });
        }
        let mut l = logits.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        self.sample_slice(&mut l, previous)
    }

    /// Samples from logits held in a slice (modified in place by the penalty).
    pub fn sample_slice(&mut self, logits: &mut [f32], previous: &[u32]) -> Result<u32> {
        const OP: &str = "LogitsProcessor::sample";
        if logits.is_empty() {
            return Err(Error::invalid(OP, "no logits"));
        }
        if u32::try_from(logits.len()).is_err() {
            return Err(Error::invalid(OP, format!("{} logits do not fit u32 token ids", logits.len())));
        }
        if let Some(i) = logits.iter().position(|x| x.is_nan()) {
            return Err(Error::invalid(OP, format!("logit {i} is NaN")));
        }
        if let Some(p) = self.cfg.repetition_penalty.filter(|&p| p != 1.0) {
            apply_repetition_penalty(logits, p, previous)?;
        }
        let temperature = self.cfg.temperature.unwrap_or(0.0);
        if temperature == 0.0 || self.cfg.top_k == Some(1) {
            return Ok(argmax(logits));
        }
        // Candidates sorted by decreasing logit (ties: lower id first), truncated to top-k.
        let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
        let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
        if let Some(k) = self.cfg.top_k.filter(|&k| k < idx.len()) {
            idx.select_nth_unstable_by(k - 1, by_logit);
            idx.truncate(k);
        }
        idx.sort_unstable_by(by_logit);
        let max = logits[idx[0] as usize] as f64;
        if max == f64::NEG_INFINITY {
            return Err(Error::invalid(OP, "every logit is -inf"));
        }
        let mut probs: Vec<f64> =
            idx.iter().map(|&i| ((logits[i as usize] as f64 - max) / temperature).exp()).collect();
        let z: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= z);
        if let Some(top_p) = self.cfg.top_p.filter(|&p| p < 1.0) {
            // Keep tokens until the mass before them reaches top_p (at least one).
            let mut acc = 0.0;
            let keep = probs
                .iter()
                .position(|&p| {
                    acc += p;
                    acc >= top_p
                })
                .map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
        }
        if let Some(min_p) = self.cfg.min_p.filter(|&p| p > 0.0) {
            let threshold = probs[0] * min_p;
            let keep = probs.iter().take_while(|&&p| p >= threshold).count().max(1);
            probs.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut r = self.rng.next_f64() * total;
        for (i, &p) in probs.iter().enumerate() {
            if r < p {
                return Ok(idx[i]);
            }
            r -= p;
        }
        Ok(idx[probs.len() - 1])
    }
}

/// Index of the largest logit (the first on ties).
fn argmax(l: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in l.iter().enumerate() {
        if x > l[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick::Device;

    fn counts(lp: &mut LogitsProcessor, logits: &Tensor, n: usize) -> Vec<usize> {
        let mut c = vec![0; logits.dims()[0]];
        for _ in 0..n {
            c[lp.sample(logits).unwrap() as usize] += 1;
        }
        c
    }

    fn logits(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    #[test]
    fn greedy_and_top_k_1_pick_argmax() -> Result<()> {
        let l = logits(&[1.0, 5.0, 5.0, -2.0]);
        assert_eq!(LogitsProcessor::new(1, None, None).sample(&l)?, 1);
        assert_eq!(LogitsProcessor::new(1, Some(0.0), Some(0.5)).sample(&l)?, 1);
        let cfg = SamplingConfig { temperature: Some(5.0), top_k: Some(1), ..Default::default() };
        let mut lp = LogitsProcessor::from_config(9, cfg)?;
        assert!((0..100).all(|_| lp.sample(&l).unwrap() == 1));
        Ok(())
    }

    #[test]
    fn temperature_sampling_follows_softmax() -> Result<()> {
        let l = logits(&[0.0, (2f32).ln(), (3f32).ln(), f32::NEG_INFINITY]);
        let mut lp = LogitsProcessor::new(1234, Some(1.0), None);
        let c = counts(&mut lp, &l, 60_000);
        // Probabilities 1/6, 2/6, 3/6, 0; 60 000 draws: std of a count < 120.
        assert_eq!(c[3], 0);
        for (got, want) in c.iter().zip([10_000.0, 20_000.0, 30_000.0]) {
            assert!((*got as f64 - want).abs() < 600.0, "{c:?}");
        }
        // Same seed, same draws.
        let a: Vec<u32> =
            (0..50).map(|_| LogitsProcessor::new(7, Some(1.0), None).sample(&l).unwrap()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut p1 = LogitsProcessor::new(7, Some(1.0), None);
        let mut p2 = LogitsProcessor::new(7, Some(1.0), None);
        assert!((0..100).all(|_| p1.sample(&l).unwrap() == p2.sample(&l).unwrap()));
        Ok(())
    }

    #[test]
    fn top_k_top_p_and_min_p_filter() -> Result<()> {
        // Probabilities 0.5, 0.25, 0.15, 0.1.
        let l = logits(&[0.5f32.ln(), 0.25f32.ln(), 0.15f32.ln(), 0.1f32.ln()]);
        let run = |cfg: SamplingConfig| {
            let mut lp = LogitsProcessor::from_config(99, cfg).unwrap();
            counts(&mut lp, &l, 30_000)
        };
        let t = Some(1.0);
        let c = run(SamplingConfig { temperature: t, top_k: Some(2), ..Default::default() });
        assert_eq!((c[2], c[3]), (0, 0));
        assert!((c[0] as f64 / 30_000.0 - 2.0 / 3.0).abs() < 0.015, "{c:?}");
        // top_p 0.7: 0.5 < 0.7, 0.75 >= 0.7 -> keep two.
        let c = run(SamplingConfig { temperature: t, top_p: Some(0.7), ..Default::default() });
        assert_eq!((c[2], c[3]), (0, 0));
        assert!(c[1] > 0);
        // top_p 0.75 exactly reached by two tokens; 0.76 needs three.
        let c = run(SamplingConfig { temperature: t, top_p: Some(0.76), ..Default::default() });
        assert!(c[2] > 0 && c[3] == 0, "{c:?}");
        // min_p 0.29: threshold 0.145 keeps 0.5, 0.25, 0.15, drops 0.1 (0.3 would put 0.15 on
        // the threshold, where f32 rounding of the logits decides).
        let c = run(SamplingConfig { temperature: t, min_p: Some(0.29), ..Default::default() });
        assert!(c[2] > 0 && c[3] == 0, "{c:?}");
        let c = run(SamplingConfig { temperature: t, min_p: Some(0.31), ..Default::default() });
        assert!(c[1] > 0 && c[2] == 0 && c[3] == 0, "{c:?}");
        Ok(())
    }

    #[test]
    fn repetition_penalty_hf_semantics() -> Result<()> {
        let mut l = vec![2.0f32, -2.0, 1.0, 0.5];
        apply_repetition_penalty(&mut l, 2.0, &[0, 1, 1, 0])?;
        assert_eq!(l, vec![1.0, -4.0, 1.0, 0.5]);
        assert!(apply_repetition_penalty(&mut l, 2.0, &[4]).is_err());
        // With the penalty, the repeated best token loses to the next one under greedy.
        let cfg = SamplingConfig { repetition_penalty: Some(3.0), ..Default::default() };
        let mut lp = LogitsProcessor::from_config(0, cfg)?;
        assert_eq!(lp.sample_with_history(&logits(&[3.0, 2.0, 0.0]), &[0])?, 1);
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut lp = LogitsProcessor::new(0, Some(1.0), None);
        assert!(lp.sample(&logits(&[])).is_err());
        assert!(lp.sample(&logits(&[1.0, f32::NAN])).is_err());
        assert!(lp.sample(&Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap()).is_err());
        assert!(lp.sample(&logits(&[f32::NEG_INFINITY; 3])).is_err());
        for cfg in [
            SamplingConfig { top_p: Some(0.0), ..Default::default() },
            SamplingConfig { top_k: Some(0), ..Default::default() },
            SamplingConfig { temperature: Some(-1.0), ..Default::default() },
            SamplingConfig { min_p: Some(2.0), ..Default::default() },
        ] {
            assert!(LogitsProcessor::from_config(0, cfg).is_err(), "{cfg:?}");
        }
    }
}
