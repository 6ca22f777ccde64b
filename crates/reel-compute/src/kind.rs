//! WebAssembly jobs on the job pipeline: [`WasmKind`] (both ends) and [`WasmWorker`] (the
//! orchestrator's, running jobs in its [`Runtime`]).

use std::sync::Arc;
use std::time::Duration;

use reel_jobs::{
    Admission, BoxFuture, Cadence, Content, JobError, JobKind, JobOutput, JobRequest, JobWorker,
    Placement,
};

use crate::job::{
    CONTENT_TYPE, MAX_INPUT_BYTES, MAX_MODULE_BYTES, RESULT_CONTENT_TYPE, Receipt, WasmJob,
    WasmResult, io_units, sha256, to_hex,
};
use crate::runtime::{ComputeError, Limits, RunInput, Runtime};

/// The capability id compute jobs are advertised and priced under. go-livepeer's ids stop
/// at 37 (BYOC); reel's extensions start at 64 so that new upstream ids cannot collide.
pub const CAPABILITY: u32 = 64;
/// The kind's name, and its path (`/wasm`) at the gateway's `/job/{kind}` and at the
/// orchestrator.
pub const KIND_NAME: &str = "wasm";
/// The model id (capability constraint) a WASM offer is advertised under: the sandbox's
/// version, so a gateway can ask for runtimes whose fuel counts agree.
pub const MODEL: &str = "wasmtime-48";

/// Where an orchestrator keeps uploaded modules.
pub type ModuleStore = reel_jobs::ContentStore;

fn parse(request: &JobRequest) -> Result<WasmJob, JobError> {
    if request.content_type != CONTENT_TYPE {
        return Err(JobError::UnsupportedMedia(format!(
            "{} (send {CONTENT_TYPE})",
            request.content_type
        )));
    }
    WasmJob::decode(&request.body).map_err(|e| JobError::BadRequest(e.to_string()))
}

/// WebAssembly jobs: paid up front for all their fuel plus their input and largest output,
/// debited what they used.
#[derive(Debug, Default, Clone)]
pub struct WasmKind {
    checker: Option<Runtime>,
}

impl WasmKind {
    /// A kind that also compiles each module it admits (once per module: the runtime
    /// caches), so that a module that cannot run is refused before anything is paid. A
    /// gateway uses this one.
    pub fn checked(runtime: Runtime) -> Self {
        Self {
            checker: Some(runtime),
        }
    }
}

impl JobKind for WasmKind {
    fn name(&self) -> &str {
        KIND_NAME
    }

    fn capability(&self) -> u32 {
        CAPABILITY
    }

    fn unit(&self) -> &str {
        "fuel"
    }

    fn cadence(&self) -> Cadence {
        Cadence::UpFront
    }

    fn max_request_bytes(&self) -> usize {
        MAX_MODULE_BYTES + MAX_INPUT_BYTES + 64 * 1024 + 8
    }

    fn admit(&self, request: &JobRequest) -> Result<Admission, JobError> {
        let job = parse(request)?;
        if let (Some(rt), Some(module)) = (&self.checker, &job.module) {
            rt.compile(module)
                .map_err(|e| JobError::Unprocessable(e.to_string()))?;
        }
        Ok(Admission {
            model: MODEL.to_owned(),
            units: job.spec.max_units(),
        })
    }

    fn units_used(
        &self,
        request: &JobRequest,
        admission: &Admission,
        output: &JobOutput,
    ) -> Result<u64, JobError> {
        let job = parse(request)?;
        let r = result(output)?;
        let units = r.receipt.fuel_used.saturating_add(io_units(
            job.spec.input_len.saturating_add(r.receipt.output_len),
        ));
        if units != r.receipt.units {
            return Err(JobError::Verification(format!(
                "the receipt bills {} units for {} fuel and {} bytes of input and output ({units})",
                r.receipt.units,
                r.receipt.fuel_used,
                job.spec.input_len + r.receipt.output_len
            )));
        }
        Ok(units.min(admission.units))
    }

    fn verify(&self, request: &JobRequest, output: &JobOutput) -> Result<(), JobError> {
        let job = parse(request)?;
        let r = result(output)?;
        if r.receipt.request != job.request_hash() {
            return Err(JobError::Verification(
                "the receipt is for another request".into(),
            ));
        }
        if r.receipt.fuel_used > job.spec.max_fuel {
            return Err(JobError::Verification(format!(
                "the receipt claims {} fuel of the {} bought",
                r.receipt.fuel_used, job.spec.max_fuel
            )));
        }
        if r.receipt.output_len > job.spec.max_output_bytes {
            return Err(JobError::Verification(
                "the output is over the job's limit".into(),
            ));
        }
        Ok(())
    }

    fn split(&self, request: &JobRequest) -> Result<(JobRequest, Vec<Content>), JobError> {
        let job = parse(request)?;
        let content = job
            .module
            .as_ref()
            .map(|m| Content {
                sha256: sha256(m),
                bytes: m.clone(),
            })
            .into_iter()
            .collect();
        Ok((
            JobRequest::new(CONTENT_TYPE, job.by_hash().encode()),
            content,
        ))
    }

    fn fingerprint(&self, _request: &JobRequest, output: &JobOutput) -> Option<String> {
        result(output).ok()?.receipt.fingerprint()
    }
}

fn result(output: &JobOutput) -> Result<WasmResult, JobError> {
    if output.content_type != RESULT_CONTENT_TYPE {
        return Err(JobError::Verification(format!(
            "a result of type `{}`",
            output.content_type
        )));
    }
    WasmResult::decode(&output.body).map_err(|e| JobError::Verification(e.to_string()))
}

/// Runs WebAssembly jobs on the orchestrator's own threads (a trap or a bomb costs its
/// job, never the process: the sandbox bounds memory, fuel and time).
#[derive(Debug, Clone)]
pub struct WasmWorker {
    runtime: Runtime,
    modules: Arc<ModuleStore>,
}

impl WasmWorker {
    pub fn new(runtime: Runtime, modules: Arc<ModuleStore>) -> Self {
        Self { runtime, modules }
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Runs one job to its result; blocking.
    pub fn run_blocking(&self, job: &WasmJob) -> Result<WasmResult, JobError> {
        let hash = job
            .spec
            .module_hash()
            .map_err(|e| JobError::BadRequest(e.to_string()))?;
        let compiled = match self.runtime.cached(&hash) {
            Some(c) => c,
            None => {
                let wasm = match &job.module {
                    Some(m) => m.clone(),
                    None => self
                        .modules
                        .get(&hash)
                        .ok_or_else(|| JobError::MissingContent(to_hex(&hash)))?,
                };
                self.runtime.compile(&wasm).map_err(|e| match e {
                    ComputeError::Host(_) => JobError::Failed(e.to_string()),
                    ComputeError::ShuttingDown => JobError::Busy(e.to_string()),
                    _ => JobError::Unprocessable(e.to_string()),
                })?
            }
        };
        let seed = job
            .spec
            .seed_bytes()
            .map_err(|e| JobError::BadRequest(e.to_string()))?;
        let run = self
            .runtime
            .run(
                &compiled,
                &RunInput {
                    stdin: job.input.clone(),
                    args: &job.spec.args,
                    env: &job.spec.env,
                    seed,
                    limits: Limits {
                        fuel: job.spec.max_fuel,
                        memory_bytes: (job.spec.max_memory_mib as usize) << 20,
                        timeout: Duration::from_millis(job.spec.timeout_ms),
                        output_bytes: job.spec.max_output_bytes as usize,
                    },
                },
            )
            .map_err(|e| match e {
                // Another orchestrator can run it; the payment stays as credit here.
                ComputeError::ShuttingDown => JobError::Busy(e.to_string()),
                _ => JobError::Failed(e.to_string()),
            })?;
        let output_len = run.stdout.len() as u64;
        let receipt = Receipt {
            request: job.request_hash(),
            units: run
                .fuel_used
                .saturating_add(io_units(job.spec.input_len.saturating_add(output_len))),
            outcome: run.outcome,
            fuel_used: run.fuel_used,
            wall_us: u64::try_from(run.wall.as_micros()).unwrap_or(u64::MAX),
            output_len,
            output_sha256: to_hex(&sha256(&run.stdout)),
            stderr: String::from_utf8_lossy(&run.stderr).into_owned(),
        };
        Ok(WasmResult {
            receipt,
            output: run.stdout,
        })
    }
}

impl JobWorker for WasmWorker {
    fn placement(&self) -> Placement {
        Placement::InProcess
    }

    fn run(
        &self,
        _model: &str,
        request: JobRequest,
    ) -> BoxFuture<'static, Result<JobOutput, JobError>> {
        let worker = self.clone();
        Box::pin(async move {
            let job = parse(&request)?;
            if let Some(m) = &job.module {
                // A module that came with the job is kept for the next ones.
                let _ = worker.modules.put(sha256(m), m.clone());
            }
            let span = tracing::info_span!("wasm_job", job = %job.request_hash(), module = %job.spec.module);
            let result = tokio::task::spawn_blocking(move || {
                let _g = span.enter();
                worker.run_blocking(&job)
            })
            .await
            .map_err(|e| JobError::Failed(format!("the job's thread died: {e}")))??;
            tracing::debug!(target: "compute", outcome = %result.receipt.outcome, fuel = result.receipt.fuel_used, "wasm job done");
            Ok(JobOutput {
                content_type: RESULT_CONTENT_TYPE.to_owned(),
                units: result.receipt.units,
                body: result.encode(),
            })
        })
    }
}
