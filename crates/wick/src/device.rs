//! Devices, the seeded random generator and the thread pool.

use crate::{Error, Result};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// Where a tensor's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory, computed by the CPU backend.
    Cpu,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
        }
    }
}

impl Device {
    /// Re-seeds this device's random generator so `rand`/`randn` repeat exactly.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let dev = Device::Cpu;
    /// dev.set_seed(42)?;
    /// let a = Tensor::randn(0f32, 1.0, 4, &dev)?.to_vec1::<f32>()?;
    /// dev.set_seed(42)?;
    /// let b = Tensor::randn(0f32, 1.0, 4, &dev)?.to_vec1::<f32>()?;
    /// assert_eq!(a, b);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn set_seed(&self, seed: u64) -> Result<()> {
        match self {
            Device::Cpu => {
                *cpu_rng().lock().map_err(|_| poisoned())? = Xoshiro256::seed_from_u64(seed);
                Ok(())
            }
        }
    }

    /// True for the CPU.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Device::Cpu)
    }

    /// Checks that two devices are the same, naming `op` otherwise.
    pub(crate) fn same_as(&self, other: &Device, op: &'static str) -> Result<()> {
        if self != other {
            return Err(Error::DeviceMismatch { op, lhs: self.to_string(), rhs: other.to_string() });
        }
        Ok(())
    }
}

fn poisoned() -> Error {
    Error::invalid("rng", "the random generator's lock was poisoned by a panic elsewhere")
}

/// xoshiro256++ (Blackman & Vigna, 2018): small, fast, good statistical quality.
#[derive(Debug, Clone)]
pub(crate) struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    pub(crate) fn seed_from_u64(seed: u64) -> Self {
        // splitmix64 expands one word into the four state words, as the authors recommend.
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Xoshiro256 { s: [next(), next(), next(), next()] }
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by the Box–Muller transform (two at a time).
    pub(crate) fn fill_normal(&mut self, out: &mut [f64]) {
        let mut i = 0;
        while i < out.len() {
            // 1 - u lies in (0, 1], so the log is finite.
            let u1 = 1.0 - self.next_f64();
            let u2 = self.next_f64();
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = std::f64::consts::TAU * u2;
            out[i] = r * theta.cos();
            if i + 1 < out.len() {
                out[i + 1] = r * theta.sin();
            }
            i += 2;
        }
    }
}

pub(crate) fn cpu_rng() -> &'static Mutex<Xoshiro256> {
    static RNG: OnceLock<Mutex<Xoshiro256>> = OnceLock::new();
    RNG.get_or_init(|| {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        Mutex::new(Xoshiro256::seed_from_u64(seed))
    })
}

pub(crate) fn with_cpu_rng<T>(f: impl FnOnce(&mut Xoshiro256) -> T) -> Result<T> {
    let mut rng = cpu_rng().lock().map_err(|_| poisoned())?;
    Ok(f(&mut rng))
}

fn pool_slot() -> &'static RwLock<Option<Arc<rayon::ThreadPool>>> {
    static POOL: OnceLock<RwLock<Option<Arc<rayon::ThreadPool>>>> = OnceLock::new();
    POOL.get_or_init(|| RwLock::new(None))
}

fn default_num_threads() -> usize {
    std::env::var("WICK_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

fn build_pool(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("wick-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| Error::invalid("thread pool", e.to_string()))
}

/// wick's thread pool: `WICK_NUM_THREADS` threads (default: all cores) until
/// [`set_num_threads`] changes it.
pub(crate) fn thread_pool() -> Arc<rayon::ThreadPool> {
    if let Ok(guard) = pool_slot().read() {
        if let Some(p) = guard.as_ref() {
            return p.clone();
        }
    }
    let mut guard = match pool_slot().write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(p) = guard.as_ref() {
        return p.clone();
    }
    let pool = build_pool(default_num_threads()).or_else(|_| build_pool(1)).unwrap_or_else(|_| {
        // Building a one-thread pool only fails if the OS refuses to spawn any thread;
        // nothing in wick can run then.
        panic!("wick: cannot start a worker thread")
    });
    *guard = Some(pool.clone());
    pool
}

/// Sets the number of threads wick's kernels use (replacing the pool).
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("set_num_threads", "the thread count must be at least 1"));
    }
    let pool = build_pool(n)?;
    let mut guard = match pool_slot().write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    *guard = Some(pool);
    Ok(())
}

/// The number of threads wick's kernels use.
pub fn num_threads() -> usize {
    thread_pool().current_num_threads()
}

/// Runs `f` on one of wick's worker threads and returns its result.
///
/// Every parallel op called from outside the pool hands its work to the workers and sleeps
/// until they finish: two cross-thread wake-ups per op, tens of microseconds each. A model's
/// forward pass runs hundreds of short parallel ops per token; run inside the pool, each op
/// starts on the calling worker and the others join in by work stealing. For the length of
/// `f` the other workers also spin as a team: a decode step's matrix-vector products are
/// shared the moment they are posted, in small chunks pulled from a counter, while ordinary
/// parallel work (dense GEMMs) still reaches them. They stop spinning when `f` returns.
///
/// ```
/// let t = wick::Tensor::ones((64, 64), wick::DType::F32, &wick::Device::Cpu)?;
/// let s = wick::run_in_pool(|| t.matmul(&t)?.sum_all())?;
/// assert_eq!(s.to_scalar::<f32>()?, 64.0 * 64.0 * 64.0);
/// # Ok::<(), wick::Error>(())
/// ```
pub fn run_in_pool<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    install(|| crate::cpu::kernels::team::session(f))
}

/// Runs `f` on wick's pool (rayon parallel iterators inside use it).
pub(crate) fn install<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let pool = thread_pool();
    if rayon::current_thread_index().is_some() && rayon::current_num_threads() == pool.current_num_threads() {
        // Already inside a pool of the same size (possibly ours): don't hop threads.
        return f();
    }
    pool.install(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_uniform() {
        let mut a = Xoshiro256::seed_from_u64(7);
        let mut b = Xoshiro256::seed_from_u64(7);
        let xs: Vec<f64> = (0..10_000).map(|_| a.next_f64()).collect();
        let ys: Vec<f64> = (0..10_000).map(|_| b.next_f64()).collect();
        assert_eq!(xs, ys);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn normal_moments() {
        let mut r = Xoshiro256::seed_from_u64(1);
        let mut v = vec![0.0; 20_001];
        r.fill_normal(&mut v);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }
}
