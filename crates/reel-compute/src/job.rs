//! The wire form of a WebAssembly job and of its result.
//!
//! A request body is `RWJ1`, a 4-byte big-endian header length, the header ([`JobSpec`] as
//! JSON), the module's bytes (`module_len` of them; none when the module goes by hash
//! alone) and the input (`input_len` bytes, the guest's stdin). A result body is `RWR1`,
//! the header length, the [`Receipt`] as JSON and the guest's stdout. The orchestrator
//! signs the result body, so a receipt is evidence of what it claims: the request it ran
//! (by hash), the outcome, the fuel used and the output's hash.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The request's content type.
pub const CONTENT_TYPE: &str = "application/vnd.reel.wasm-job";
/// The result's content type.
pub const RESULT_CONTENT_TYPE: &str = "application/vnd.reel.wasm-result";

const MAGIC: &[u8; 4] = b"RWJ1";
const RESULT_MAGIC: &[u8; 4] = b"RWR1";
const MAX_HEADER: usize = 64 * 1024;
/// Largest module, input and output accepted.
pub const MAX_MODULE_BYTES: usize = 16 << 20;
pub const MAX_INPUT_BYTES: usize = 16 << 20;
pub const MAX_OUTPUT_BYTES: u64 = 16 << 20;
/// Most fuel one job may buy: minutes of work on one core.
pub const MAX_FUEL: u64 = 1_000_000_000_000;
pub const MAX_MEMORY_MIB: u32 = 4096;
pub const MAX_TIMEOUT_MS: u64 = 600_000;
const MAX_ARGS: usize = 256;
const MAX_ARG_BYTES: usize = 4096;
/// stderr kept in a receipt (its tail is for people, not for billing).
pub const MAX_STDERR_BYTES: usize = 4096;

/// Fuel a MiB of input or output is billed as: moving data costs the orchestrator
/// bandwidth and memory, so it is priced in the same unit as the work.
pub const FUEL_PER_MIB: u64 = 1_000_000;

/// Units billed for `bytes` of input and output, rounded up.
pub fn io_units(bytes: u64) -> u64 {
    let units = (u128::from(bytes) * u128::from(FUEL_PER_MIB)).div_ceil(1 << 20);
    u64::try_from(units).unwrap_or(u64::MAX)
}

/// Why a body is not a well-formed job or result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a reel WebAssembly {0} (bad magic)")]
    Magic(&'static str),
    #[error("body ends early: {0}")]
    Truncated(&'static str),
    #[error("header: {0}")]
    Header(String),
    #[error("{what} is {value}, over the limit of {max}")]
    Limit {
        what: &'static str,
        value: u64,
        max: u64,
    },
    #[error("the module's sha256 is {actual}, not the {claimed} the header names")]
    ModuleHash { claimed: String, actual: String },
    #[error("{0}")]
    Invalid(String),
}

/// What to run and within what limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The module's sha256, lowercase hex.
    pub module: String,
    /// Bytes of the module carried in the body; 0 when it goes by hash.
    #[serde(default)]
    pub module_len: u64,
    /// Bytes of input (stdin) after the module.
    pub input_len: u64,
    /// `argv[1..]` (`argv[0]` is the module's hash).
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables, in order.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    pub max_fuel: u64,
    pub max_memory_mib: u32,
    pub timeout_ms: u64,
    pub max_output_bytes: u64,
    /// 32 bytes of hex seeding the guest's randomness.
    pub seed: String,
}

impl JobSpec {
    /// Units paid for up front: all the fuel, the input, and the largest output.
    pub fn max_units(&self) -> u64 {
        self.max_fuel.saturating_add(io_units(
            self.input_len.saturating_add(self.max_output_bytes),
        ))
    }

    pub fn seed_bytes(&self) -> Result<[u8; 32], FormatError> {
        let v = from_hex(&self.seed)
            .filter(|v| v.len() == 32)
            .ok_or_else(|| FormatError::Invalid("seed must be 64 hex digits".into()))?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&v);
        Ok(out)
    }

    pub fn module_hash(&self) -> Result<[u8; 32], FormatError> {
        let v = from_hex(&self.module)
            .filter(|v| v.len() == 32)
            .ok_or_else(|| {
                FormatError::Invalid("module must be a sha256 in 64 hex digits".into())
            })?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&v);
        Ok(out)
    }

    fn check(&self) -> Result<(), FormatError> {
        let limit = |what, value: u64, max: u64| {
            if value > max {
                Err(FormatError::Limit { what, value, max })
            } else {
                Ok(())
            }
        };
        limit("module_len", self.module_len, MAX_MODULE_BYTES as u64)?;
        limit("input_len", self.input_len, MAX_INPUT_BYTES as u64)?;
        limit("max_fuel", self.max_fuel, MAX_FUEL)?;
        limit(
            "max_memory_mib",
            self.max_memory_mib.into(),
            MAX_MEMORY_MIB.into(),
        )?;
        limit("timeout_ms", self.timeout_ms, MAX_TIMEOUT_MS)?;
        limit("max_output_bytes", self.max_output_bytes, MAX_OUTPUT_BYTES)?;
        limit(
            "args",
            (self.args.len() + self.env.len()) as u64,
            MAX_ARGS as u64,
        )?;
        for a in self
            .args
            .iter()
            .chain(self.env.iter().flat_map(|(k, v)| [k, v]))
        {
            limit("an argument", a.len() as u64, MAX_ARG_BYTES as u64)?;
            if a.contains('\0') {
                return Err(FormatError::Invalid("arguments cannot hold NUL".into()));
            }
        }
        if self
            .env
            .iter()
            .any(|(k, _)| k.is_empty() || k.contains('='))
        {
            return Err(FormatError::Invalid(
                "environment names must be non-empty and hold no `=`".into(),
            ));
        }
        if self.max_fuel == 0 || self.timeout_ms == 0 || self.max_memory_mib == 0 {
            return Err(FormatError::Invalid(
                "max_fuel, timeout_ms and max_memory_mib must be at least 1".into(),
            ));
        }
        self.module_hash()?;
        self.seed_bytes()?;
        Ok(())
    }
}

/// A job as carried: its header, the module when it travels with the job, and the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmJob {
    pub spec: JobSpec,
    pub module: Option<Bytes>,
    pub input: Bytes,
}

impl WasmJob {
    /// A job carrying `module`; its hash and the lengths are filled in.
    pub fn new(module: Bytes, input: Bytes, mut spec: JobSpec) -> Self {
        spec.module = to_hex(&sha256(&module));
        spec.module_len = module.len() as u64;
        spec.input_len = input.len() as u64;
        Self {
            spec,
            module: Some(module),
            input,
        }
    }

    /// The same job with the module by hash only.
    pub fn by_hash(&self) -> Self {
        let mut spec = self.spec.clone();
        spec.module_len = 0;
        Self {
            spec,
            module: None,
            input: self.input.clone(),
        }
    }

    pub fn encode(&self) -> Bytes {
        let header = serde_json::to_vec(&self.spec).unwrap_or_default();
        let module = self.module.as_deref().unwrap_or_default();
        let mut b = BytesMut::with_capacity(8 + header.len() + module.len() + self.input.len());
        b.put_slice(MAGIC);
        b.put_u32(header.len() as u32);
        b.put_slice(&header);
        b.put_slice(module);
        b.put_slice(&self.input);
        b.freeze()
    }

    /// Parses and bounds a request body; a module that travels with it must match its hash.
    pub fn decode(body: &Bytes) -> Result<Self, FormatError> {
        let (header, rest) = split(body, MAGIC, "job")?;
        let spec: JobSpec =
            serde_json::from_slice(header).map_err(|e| FormatError::Header(e.to_string()))?;
        spec.check()?;
        let (m, i) = (spec.module_len as usize, spec.input_len as usize);
        if rest.len() != m + i {
            return Err(FormatError::Truncated(if rest.len() < m + i {
                "the module and input are shorter than the header says"
            } else {
                "bytes after the input"
            }));
        }
        let start = body.len() - rest.len();
        let module = (m > 0).then(|| body.slice(start..start + m));
        if let Some(module) = &module {
            let actual = to_hex(&sha256(module));
            if actual != spec.module {
                return Err(FormatError::ModuleHash {
                    claimed: spec.module,
                    actual,
                });
            }
        }
        let input = body.slice(start + m..);
        Ok(Self {
            spec,
            module,
            input,
        })
    }

    /// What identifies the work: the hash of the job's body with the module by hash.
    pub fn request_hash(&self) -> String {
        to_hex(&sha256(&self.by_hash().encode()))
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// `_start` returned (code 0) or the guest called `proc_exit`.
    Exited { code: i32 },
    /// A WebAssembly trap (unreachable, out-of-bounds access, stack overflow…).
    Trapped { message: String },
    /// The fuel bought ran out: billed in full.
    OutOfFuel,
    /// The guest tried to grow memory past its limit and died of it.
    MemoryLimit,
    /// The guest wrote more than `max_output_bytes`.
    OutputLimit,
    /// The wall-clock deadline passed.
    Timeout,
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Exited { code: 0 })
    }

    /// Whether two honest runs of the same job end the same way. A timeout depends on the
    /// host's speed, so it is the one outcome that cannot be checked by running again.
    pub fn is_deterministic(&self) -> bool {
        !matches!(self, Self::Timeout)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited { code } => write!(f, "exited with code {code}"),
            Self::Trapped { message } => write!(f, "trapped: {message}"),
            Self::OutOfFuel => f.write_str("ran out of fuel"),
            Self::MemoryLimit => f.write_str("went over its memory limit"),
            Self::OutputLimit => f.write_str("wrote more than its output limit"),
            Self::Timeout => f.write_str("ran past its deadline"),
        }
    }
}

/// What the orchestrator states about a run, signed with its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// [`WasmJob::request_hash`] of the job run.
    pub request: String,
    pub outcome: Outcome,
    pub fuel_used: u64,
    pub wall_us: u64,
    pub output_len: u64,
    pub output_sha256: String,
    /// Units billed: the fuel used plus the input and output ([`io_units`]).
    pub units: u64,
    /// The tail of stderr, lossily decoded.
    pub stderr: String,
}

impl Receipt {
    /// What two honest runs agree on: the request, the outcome, the fuel and the output.
    /// `None` for a run that cannot be checked by running it again (a timeout).
    pub fn fingerprint(&self) -> Option<String> {
        if !self.outcome.is_deterministic() {
            return None;
        }
        // A trap's message is the host's wording, not the guest's result: compare kinds.
        let outcome = match &self.outcome {
            Outcome::Trapped { .. } => "trapped".to_owned(),
            o => serde_json::to_string(o).unwrap_or_default(),
        };
        let text = format!(
            "{}|{}|{}|{}|{}",
            self.request, outcome, self.fuel_used, self.output_len, self.output_sha256
        );
        Some(to_hex(&sha256(text.as_bytes())))
    }
}

/// A receipt and the output it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmResult {
    pub receipt: Receipt,
    pub output: Bytes,
}

impl WasmResult {
    pub fn encode(&self) -> Bytes {
        let header = serde_json::to_vec(&self.receipt).unwrap_or_default();
        let mut b = BytesMut::with_capacity(8 + header.len() + self.output.len());
        b.put_slice(RESULT_MAGIC);
        b.put_u32(header.len() as u32);
        b.put_slice(&header);
        b.put_slice(&self.output);
        b.freeze()
    }

    /// Parses a result and checks that the receipt describes the output it carries.
    pub fn decode(body: &Bytes) -> Result<Self, FormatError> {
        let (header, rest) = split(body, RESULT_MAGIC, "result")?;
        let receipt: Receipt =
            serde_json::from_slice(header).map_err(|e| FormatError::Header(e.to_string()))?;
        let output = body.slice(body.len() - rest.len()..);
        if receipt.output_len != output.len() as u64
            || receipt.output_sha256 != to_hex(&sha256(&output))
        {
            return Err(FormatError::Invalid(
                "the receipt's output length or hash is not the output's".into(),
            ));
        }
        Ok(Self { receipt, output })
    }
}

fn split<'a>(
    body: &'a [u8],
    magic: &[u8; 4],
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), FormatError> {
    if body.len() < 8 {
        return Err(FormatError::Truncated("no header"));
    }
    if &body[..4] != magic {
        return Err(FormatError::Magic(what));
    }
    let len = u32::from_be_bytes([body[4], body[5], body[6], body[7]]) as usize;
    if len > MAX_HEADER {
        return Err(FormatError::Limit {
            what: "the header",
            value: len as u64,
            max: MAX_HEADER as u64,
        });
    }
    let rest = &body[8..];
    if rest.len() < len {
        return Err(FormatError::Truncated("the header"));
    }
    Ok(rest.split_at(len))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> JobSpec {
        JobSpec {
            module: String::new(),
            module_len: 0,
            input_len: 0,
            args: vec!["a".into()],
            env: vec![("K".into(), "V".into())],
            max_fuel: 1000,
            max_memory_mib: 16,
            timeout_ms: 1000,
            max_output_bytes: 100,
            seed: "00".repeat(32),
        }
    }

    #[test]
    fn a_job_round_trips_and_by_hash_drops_only_the_module() {
        let job = WasmJob::new(
            Bytes::from_static(b"\0asm mod"),
            Bytes::from_static(b"in"),
            spec(),
        );
        let back = WasmJob::decode(&job.encode()).unwrap();
        assert_eq!(back, job);
        let lean = WasmJob::decode(&job.by_hash().encode()).unwrap();
        assert_eq!(lean.module, None);
        assert_eq!(lean.input, Bytes::from_static(b"in"));
        assert_eq!(lean.request_hash(), job.request_hash());
    }

    #[test]
    fn bad_bodies_say_why() {
        let job = WasmJob::new(Bytes::from_static(b"m"), Bytes::from_static(b"in"), spec());
        let body = job.encode();
        let err = |b: &[u8]| {
            WasmJob::decode(&Bytes::copy_from_slice(b))
                .unwrap_err()
                .to_string()
        };
        assert!(err(b"RWJ").contains("no header"));
        assert!(err(b"XXXX\0\0\0\0").contains("bad magic"));
        assert!(err(&body[..body.len() - 1]).contains("shorter than the header says"));
        let mut long = body.to_vec();
        long.push(0);
        assert!(err(&long).contains("bytes after the input"));
        let mut tampered = body.to_vec();
        let n = tampered.len();
        tampered[n - 3] = b'x'; // the module's one byte
        assert!(err(&tampered).contains("sha256"));
        let mut s = spec();
        s.max_fuel = MAX_FUEL + 1;
        let j = WasmJob::new(Bytes::from_static(b"m"), Bytes::new(), s);
        assert!(err(&j.encode()).contains("max_fuel is"));
    }

    #[test]
    fn a_result_must_describe_its_output() {
        let output = Bytes::from_static(b"out");
        let r = WasmResult {
            receipt: Receipt {
                request: "r".into(),
                outcome: Outcome::Exited { code: 0 },
                fuel_used: 7,
                wall_us: 1,
                output_len: 3,
                output_sha256: to_hex(&sha256(&output)),
                units: 7,
                stderr: String::new(),
            },
            output,
        };
        assert_eq!(WasmResult::decode(&r.encode()).unwrap(), r);
        let mut bad = r.encode().to_vec();
        *bad.last_mut().unwrap() = b'X';
        assert!(WasmResult::decode(&Bytes::from(bad)).is_err());
        // Wall time is not part of what two runs must agree on; fuel is.
        let mut other = r.receipt.clone();
        other.wall_us = 99;
        assert_eq!(other.fingerprint(), r.receipt.fingerprint());
        other.fuel_used = 8;
        assert_ne!(other.fingerprint(), r.receipt.fingerprint());
        other.outcome = Outcome::Timeout;
        assert_eq!(other.fingerprint(), None);
    }

    #[test]
    fn io_is_billed_per_mib_rounded_up() {
        assert_eq!(io_units(0), 0);
        assert_eq!(io_units(1), 1);
        assert_eq!(io_units(1 << 20), FUEL_PER_MIB);
        assert_eq!(hex_round_trip("00ff10"), "00ff10");
    }

    fn hex_round_trip(s: &str) -> String {
        to_hex(&from_hex(s).unwrap())
    }

    proptest::proptest! {
        /// Any bytes: an error with a reason or a job, never a panic; a job that decodes
        /// encodes back to the same bytes.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let body = Bytes::from(body);
            if let Ok(job) = WasmJob::decode(&body) {
                proptest::prop_assert!(job.spec.max_fuel <= MAX_FUEL);
            }
            let _ = WasmResult::decode(&body);
        }

        /// A valid job with one byte changed anywhere: still never a panic, and a change in
        /// the module is caught by its hash.
        #[test]
        fn a_flipped_byte_is_caught_or_harmless(at in 0usize..400, bit in 0u8..8) {
            let job = WasmJob::new(Bytes::from_static(b"\0asm module bytes"), Bytes::from_static(b"input"), spec());
            let mut body = job.encode().to_vec();
            let at = at % body.len();
            body[at] ^= 1 << bit;
            if let Ok(back) = WasmJob::decode(&Bytes::from(body)) {
                proptest::prop_assert_eq!(back.module.as_ref().map(|m| to_hex(&sha256(m))), Some(back.spec.module));
            }
        }
    }
}
