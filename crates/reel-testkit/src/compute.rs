//! WebAssembly workloads for the compute tests and benches: `guests/workloads.c` built with
//! clang to WASI and with the system C compiler to a native program, and the same three
//! computations in Rust to check outputs against.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The C source: `workloads hash | blur W H | sieve N`.
pub fn workloads_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/workloads.c")
}

/// The workloads as a WASI module (`clang --target=wasm32-wasi -O2`), built once per
/// process. Panics without clang, wasi-libc and lld (`./x setup` installs them).
pub fn workloads_wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out = dir.path().join("workloads.wasm");
        let status = Command::new("clang")
            .args(["--target=wasm32-wasi", "-O2", "-fuse-ld=lld", "-o"])
            .arg(&out)
            .arg(workloads_source())
            .status()
            .expect("clang (./x setup installs it with wasi-libc and lld)");
        assert!(status.success(), "clang could not build the workloads");
        std::fs::read(&out).expect("the built module")
    })
}

/// The workloads as a native program (`cc -O2`) written to `dir`.
pub fn workloads_native(dir: &Path) -> PathBuf {
    let out = dir.join("workloads");
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(workloads_source())
        .status()
        .expect("cc");
    assert!(status.success(), "cc could not build the workloads");
    out
}

/// FNV-1a 64 of `data` (what `workloads hash` prints, as 16 hex digits).
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A 3×3 box blur of a `w`×`h` 8-bit grey image, edges averaged over the pixels that
/// exist (what `workloads blur` writes).
pub fn box_blur(img: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let (mut sum, mut n) = (0u32, 0u32);
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    sum += u32::from(img[yy * w + xx]);
                    n += 1;
                }
            }
            out[y * w + x] = (sum / n) as u8;
        }
    }
    out
}

/// The number of primes below `n` and the last of them (what `workloads sieve` prints).
pub fn primes_below(n: usize) -> (usize, usize) {
    let mut composite = vec![false; n];
    let (mut count, mut last) = (0, 0);
    for i in 2..n {
        if !composite[i] {
            count += 1;
            last = i;
            let mut j = i * i;
            while j < n {
                composite[j] = true;
                j += i;
            }
        }
    }
    (count, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_agree_with_known_values() {
        assert_eq!(primes_below(1_000_000), (78_498, 999_983));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"hello"), 0xa430_d846_80aa_bd0b);
        assert_eq!(box_blur(&[0, 9, 0, 9], 2, 2), vec![4, 4, 4, 4]);
    }
}
