//! Bounded mutation testing (fuzzing on stable) of the `.npy`, `.npz` and `.pth` readers.
//!
//! Starting from the valid fixtures (and the corrupt corpus), each input gets a few random
//! byte flips, insertions, deletions, truncations, duplicated chunks or "interesting" integers
//! and is fed to the reader; the test fails if any input panics, saving it to the temp dir.
//! Zip archives are also rebuilt around a mutated member (`data.pkl`, a storage, an `.npy`),
//! since mutating the archive itself mostly trips the CRC check. Each format runs for
//! `WICK_MUTATION_SECS` seconds (default 15); `WICK_MUTATION_SEED` picks the RNG seed.

use std::io::{Cursor, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wick::{npy, npz, pth};

/// xorshift64*: small, seedable, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn budget() -> Duration {
    let secs = std::env::var("WICK_MUTATION_SECS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(15.0);
    Duration::from_secs_f64(secs.max(0.0))
}

fn rng(salt: u64) -> Rng {
    let seed =
        std::env::var("WICK_MUTATION_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0x5eed_2024);
    Rng((seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
}

const INTERESTING: [u64; 16] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 32,
    1 << 40,
    i64::MAX as u64,
    1 << 63,
    u64::MAX,
];

/// Bytes that mean something to the npy header parser or the pickle machine.
const TOKENS: &[u8] = b"()[]{},:'\"0159-LTFN \n.qhjrR(tu}]sea\x80\x8a\x8c\x93\x94\x95QXKMJcb";

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let i = rng.below(len);
                v[i] = TOKENS[rng.below(TOKENS.len())];
            }
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(i..i, ins);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(16.min(len - i));
                v.drain(i..i + n);
            }
            5 => v.truncate(rng.below(len + 1)),
            6 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(32.min(len - i));
                let chunk = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            7 if len > 0 => {
                let x = INTERESTING[rng.below(INTERESTING.len())];
                let width = [1, 2, 4, 8][rng.below(4)];
                let i = rng.below(len);
                let bytes = x.to_le_bytes();
                let w = width.min(len - i);
                v[i..i + w].copy_from_slice(&bytes[..w]);
            }
            8 if len > 0 => {
                // Rewrite a run of ASCII digits (shape entries, lengths in a header).
                let i = rng.below(len);
                if let Some(p) = v[i..].iter().position(u8::is_ascii_digit) {
                    let digits: Vec<u8> =
                        (0..1 + rng.below(20)).map(|_| b'0' + rng.below(10) as u8).collect();
                    v.splice(i + p..i + p + 1, digits);
                }
            }
            _ if len > 0 => {
                let i = rng.below(len);
                v.insert(i, TOKENS[rng.below(TOKENS.len())]);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

/// Runs `f` on `input`; a panic fails the test, naming a file that holds the input.
fn run_case(what: &str, input: &[u8], f: impl Fn(&[u8])) {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
        let path = std::env::temp_dir().join(format!("wick-mutation-{what}-{}.bin", std::process::id()));
        std::fs::write(&path, input).ok();
        let head: Vec<u8> = input.iter().take(64).copied().collect();
        panic!(
            "{what}: an input of {} bytes panicked (saved to {}): {head:02x?}...",
            input.len(),
            path.display()
        );
    }
}

fn files(dirs: &[&str], ext: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut out = Vec::new();
    for d in dirs {
        let mut paths: Vec<PathBuf> =
            std::fs::read_dir(root.join(d)).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == ext)) {
            out.push(std::fs::read(p).unwrap());
        }
    }
    assert!(!out.is_empty(), "no seed files for {ext}");
    out
}

/// The members of a zip archive, in order; `None` if it is not a readable archive.
fn unzip(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).ok()?;
            let mut data = Vec::new();
            f.read_to_end(&mut data).ok()?;
            Some((f.name().ok()?.to_string(), data))
        })
        .collect()
}

fn rezip(members: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    for (name, data) in members {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default().compression_method(method))
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn report(what: &str, n: u64, start: Instant) {
    println!("{what}: {n} mutated inputs in {:.1} s, none panicked", start.elapsed().as_secs_f64());
    assert!(n > 0 || budget().is_zero());
}

#[test]
fn mutated_npy_never_panics() {
    let seeds = files(&["fixtures/files/npy", "corrupt/npy"], "npy");
    let mut rng = rng(1);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget() {
        let input = {
            let k = rng.below(seeds.len());
            mutate(&mut rng, &seeds[k])
        };
        run_case("npy", &input, |b| {
            let _ = npy::parse_header(b);
            let _ = npy::read_npy_bytes(b);
        });
        n += 1;
    }
    report("npy", n, start);
}

#[test]
fn mutated_npz_never_panics() {
    let seeds = files(&["fixtures/files/npz", "corrupt/npz"], "npz");
    let unzipped: Vec<_> = seeds.iter().filter_map(|s| unzip(s)).collect();
    let mut rng = rng(2);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget() {
        let input = if rng.below(3) == 0 {
            {
                let k = rng.below(seeds.len());
                mutate(&mut rng, &seeds[k])
            }
        } else {
            // Rebuild an archive around one mutated member.
            let mut members = unzipped[rng.below(unzipped.len())].clone();
            if !members.is_empty() {
                let i = rng.below(members.len());
                members[i].1 = mutate(&mut rng, &members[i].1);
            }
            rezip(&members, rng.below(2) == 0)
        };
        run_case("npz", &input, |b| {
            let _ = npz::read_bytes(b);
        });
        n += 1;
    }
    report("npz", n, start);
}

#[test]
fn mutated_pth_never_panics() {
    let seeds = files(&["fixtures/files/pth"], "pth");
    let unzipped: Vec<Vec<(String, Vec<u8>)>> = seeds.iter().map(|s| unzip(s).unwrap()).collect();
    let mut pickles: Vec<Vec<u8>> = unzipped
        .iter()
        .flat_map(|m| m.iter().filter(|(n, _)| n.ends_with("data.pkl")).map(|(_, d)| d.clone()))
        .collect();
    pickles.extend(files(&["corrupt/pickle"], "pkl"));
    let mut rng = rng(3);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget() {
        match rng.below(4) {
            0 => {
                let input = {
                    let k = rng.below(seeds.len());
                    mutate(&mut rng, &seeds[k])
                };
                run_case("pth", &input, |b| {
                    let _ = pth::read_bytes(b);
                });
            }
            1 => {
                let input = {
                    let k = rng.below(pickles.len());
                    mutate(&mut rng, &pickles[k])
                };
                run_case("pickle", &input, |b| {
                    let _ = pth::unpickle(b);
                });
            }
            _ => {
                // A checkpoint whose data.pkl (most often) or one storage is mutated.
                let mut members = unzipped[rng.below(unzipped.len())].clone();
                let pkl = members.iter().position(|(n, _)| n.ends_with("data.pkl")).unwrap_or(0);
                let i = if rng.below(4) == 0 { rng.below(members.len()) } else { pkl };
                members[i].1 = mutate(&mut rng, &members[i].1);
                let input = rezip(&members, rng.below(4) == 0);
                run_case("pth-member", &input, |b| {
                    let _ = pth::read_bytes(b);
                });
            }
        }
        n += 1;
    }
    report("pth", n, start);
}
