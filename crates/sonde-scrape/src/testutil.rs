//! Test helpers: real HTTP servers on 127.0.0.1 ephemeral ports, and an
//! `Appendable` that records what is appended.

// Not every test module uses every helper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use sonde_model::{
    AppendError, Appendable, Appender, Exemplar, Labels, SeriesRef, StorageError, Timestamp,
};

/// Serves `router` on 127.0.0.1 until the returned guard is dropped.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(router: axum::Router) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        TestServer { addr, task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One committed sample.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recorded {
    pub labels: Labels,
    pub t: Timestamp,
    pub v: f64,
}

/// Records committed samples; refuses a sample whose timestamp is not after
/// the last committed one of its series (as the TSDB does: out of order, or
/// duplicate when the value differs).
#[derive(Default)]
pub(crate) struct Recorder {
    pub committed: Mutex<Vec<Recorded>>,
}

impl Recorder {
    pub(crate) fn samples(&self) -> Vec<Recorded> {
        self.committed.lock().unwrap().clone()
    }

    /// Committed samples of the series with this metric name.
    pub(crate) fn of(&self, name: &str) -> Vec<Recorded> {
        self.samples()
            .into_iter()
            .filter(|r| r.labels.metric_name() == name)
            .collect()
    }

    /// The last committed value of the series with this metric name.
    pub(crate) fn last(&self, name: &str) -> Option<f64> {
        self.of(name).last().map(|r| r.v)
    }
}

struct RecorderAppender {
    rec: Arc<Recorder>,
    pending: Vec<Recorded>,
}

struct RecorderAppendable(Arc<Recorder>);

impl Appendable for RecorderAppendable {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(RecorderAppender {
            rec: self.0.clone(),
            pending: Vec::new(),
        })
    }
}

pub(crate) fn appendable(rec: &Arc<Recorder>) -> Arc<dyn Appendable> {
    Arc::new(RecorderAppendable(rec.clone()))
}

impl Appender for RecorderAppender {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let committed = self.rec.committed.lock().unwrap();
        let last = committed
            .iter()
            .chain(self.pending.iter())
            .rev()
            .find(|r| &r.labels == labels);
        if let Some(l) = last {
            if t < l.t {
                return Err(AppendError::OutOfOrder);
            }
            if t == l.t && v.to_bits() != l.v.to_bits() {
                return Err(AppendError::DuplicateSampleForTimestamp);
            }
        }
        drop(committed);
        self.pending.push(Recorded {
            labels: labels.clone(),
            t,
            v,
        });
        Ok(if series_ref == 0 {
            labels.stable_hash() | 1
        } else {
            series_ref
        })
    }

    fn append_exemplar(
        &mut self,
        series_ref: SeriesRef,
        _labels: &Labels,
        _exemplar: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        Ok(series_ref)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.rec.committed.lock().unwrap().extend(self.pending);
        Ok(())
    }

    fn rollback(self: Box<Self>) {}
}
