//! `cqlbulk._native`: the Python package's bridge to the library. Jobs take the command
//! line's flags (the Python layer turns keyword arguments into them), so options, parsing
//! and validation are the program's own; summaries come back as JSON text, scans as
//! `pyarrow.RecordBatchReader`s over the Arrow C stream interface (no copy).

use std::ffi::OsString;
use std::sync::{Arc, OnceLock};

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_pyarrow::IntoPyArrow;
use arrow_schema::{ArrowError, SchemaRef};
use cqlbulk::CancellationToken;
use cqlbulk::cmd::Failure;
use cqlbulk::source::cassandra::{SplitSpec, TableScan};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    cqlbulk,
    CqlbulkError,
    PyException,
    "A cqlbulk job failed: the program's one-line message, with `.kind` (e.g. `bad_input`, \
     `connection`, `incomplete_scan`) and `.exit_code` (the program's)."
);

/// One runtime for every call of the process; jobs run on it while Python waits.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts")
    })
}

fn failure(py: Python<'_>, failure: Failure) -> PyErr {
    let err = CqlbulkError::new_err(failure.message);
    let value = err.value(py);
    let _ = value.setattr("kind", failure.kind);
    let _ = value.setattr("exit_code", failure.exit_code);
    err
}

/// Runs the job `job` makes on a thread of its own (jobs' futures need not be `Send`) with
/// the GIL released; Ctrl-C in Python cancels it (the job stops as the program does on
/// SIGINT) and raises KeyboardInterrupt.
fn run_job<T, F>(py: Python<'_>, job: impl FnOnce(CancellationToken) -> F + Send + 'static) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + 'static,
{
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let handle = std::thread::spawn(move || runtime().block_on(job(token)));
    let joined = |handle: std::thread::JoinHandle<T>| {
        handle.join().map_err(|_| PyException::new_err("cqlbulk: the job panicked"))
    };
    loop {
        if handle.is_finished() {
            return joined(handle);
        }
        if let Err(interrupt) = py.check_signals() {
            cancel.cancel();
            let _ = py.detach(|| joined(handle));
            return Err(interrupt);
        }
        py.detach(|| std::thread::sleep(std::time::Duration::from_millis(20)));
    }
}

fn argv(args: Vec<String>) -> Vec<OsString> {
    std::iter::once(OsString::from("cqlbulk")).chain(args.into_iter().map(OsString::from)).collect()
}

/// Runs `cqlbulk ARGS…` as a job and returns its summary as JSON text.
#[pyfunction]
fn run(py: Python<'_>, args: Vec<String>) -> PyResult<String> {
    let argv = argv(args);
    let result = run_job(py, move |cancel| async move { cqlbulk::cmd::summary(argv, &cancel).await })?;
    result.map(|value| value.to_string()).map_err(|f| failure(py, f))
}

/// The `cqlbulk` program itself on `argv` (its name first): the exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> u8 {
    let argv = argv.into_iter().map(OsString::from).collect();
    py.detach(|| cqlbulk::cmd::main(argv))
}

/// An open scan of a table (from `unload`'s flags): its schema, its splits, and readers.
#[pyclass(module = "cqlbulk._native", frozen)]
struct Scan {
    scan: Arc<TableScan>,
}

#[pymethods]
impl Scan {
    /// The planned splits as JSON text: `[{"index", "start", "end", "replicas"}, …]`.
    fn splits(&self) -> String {
        serde_json::to_string(&self.scan.splits()).expect("splits serialize")
    }

    /// A `pyarrow.RecordBatchReader` of the splits given as JSON text (every split when
    /// `None`), read at most `--concurrency` at once, memory bounded.
    #[pyo3(signature = (splits=None))]
    fn read<'py>(&self, py: Python<'py>, splits: Option<String>) -> PyResult<Bound<'py, PyAny>> {
        let splits: Option<Vec<SplitSpec>> =
            splits.map(|text| serde_json::from_str(&text)).transpose().map_err(|e| {
                failure(
                    py,
                    Failure { message: format!("splits: {e}"), kind: "bad_input".into(), exit_code: 3 },
                )
            })?;
        let scan = self.scan.clone();
        let schema = scan.schema();
        let receiver = {
            let _entered = runtime().enter();
            scan.read(splits).map_err(|e| failure(py, Failure::from_error(&e)))?
        };
        let reader: Box<dyn RecordBatchReader + Send> = Box::new(Batches { schema, receiver });
        reader.into_pyarrow(py)
    }
}

/// The batches of a scan as arrow's reader: pyarrow pulls them (releasing the GIL) and each
/// pull waits for the next batch the scan sends.
struct Batches {
    schema: SchemaRef,
    receiver: tokio::sync::mpsc::Receiver<cqlbulk::Result<RecordBatch>>,
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.blocking_recv().map(|batch| batch.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for Batches {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Opens the scan `cqlbulk ARGS…` (an unload command line) describes.
#[pyfunction]
fn open_scan(py: Python<'_>, args: Vec<String>) -> PyResult<Scan> {
    let argv = argv(args);
    let result = run_job(py, move |_| async move { cqlbulk::cmd::open_scan(argv).await })?;
    result.map(|scan| Scan { scan: Arc::new(scan) }).map_err(|f| failure(py, f))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(open_scan, m)?)?;
    m.add_class::<Scan>()?;
    m.add("CqlbulkError", m.py().get_type::<CqlbulkError>())?;
    Ok(())
}
