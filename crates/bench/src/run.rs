//! One measured step: an open loop at a fixed rate over a set of nodes, with a
//! discarded warm-up, every transaction followed to its block through the event
//! stream of the node it was sent to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mpms_node::runtime::now_ms;

use mpms_crypto::Hash;
use rand::rngs::OsRng;
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::{Api, Confirmed, Failure};
use crate::schedule::{dispatch, Dispatched, OpenLoop};
use crate::stats::Summary;
use crate::workload::{Actors, Held, Mix, Op, Signed};

/// What a step sends, how fast and for how long.
#[derive(Debug, Clone)]
pub struct StepConfig {
    /// Sends per second (all nodes together).
    pub rate: f64,
    /// The measured part.
    pub duration: Duration,
    /// Sent first and discarded.
    pub warmup: Duration,
    /// How long after the last send a transaction may still be confirmed.
    pub drain: Duration,
    /// The operations' weights.
    pub mix: Mix,
    /// Print a progress line every second (to standard error).
    pub progress: bool,
}

/// One send and what became of it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Its place in the schedule.
    pub index: u64,
    /// What it did.
    pub op: Op,
    /// The node it went to.
    pub node: usize,
    /// When it was sent, from the start of the step.
    pub sent: Duration,
    /// Sent during the warm-up (not counted).
    pub warmup: bool,
    /// Transactions: sent → admitted.
    pub submission: Option<Duration>,
    /// Transactions: sent → reported in a finalized block.
    pub confirmation: Option<Duration>,
    /// Queries: sent → the whole answer read.
    pub retrieval: Option<Duration>,
    /// The block, once confirmed.
    pub height: Option<u64>,
    /// The transaction, once admitted.
    pub hash: Option<Hash>,
    /// Why it failed.
    pub failure: Option<Failure>,
}

/// A finished step.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Every send, in schedule order.
    pub samples: Vec<Sample>,
    /// What the open loop did.
    pub dispatched: Dispatched,
    /// The configuration.
    pub config: StepConfig,
    /// Nodes sent to.
    pub nodes: usize,
}

impl StepResult {
    fn measured(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(|s| !s.warmup)
    }

    /// The summary of one latency over the measured part.
    fn latencies(&self, pick: impl Fn(&Sample) -> Option<Duration>) -> Option<Summary> {
        Summary::of(&self.measured().filter_map(pick).collect::<Vec<_>>())
    }

    /// Submission latencies of the measured part.
    pub fn submission(&self) -> Option<Summary> {
        self.latencies(|s| s.submission)
    }

    /// Confirmation latencies of the measured part.
    pub fn confirmation(&self) -> Option<Summary> {
        self.latencies(|s| s.confirmation)
    }

    /// Retrieval latencies of the measured part.
    pub fn retrieval(&self) -> Option<Summary> {
        self.latencies(|s| s.retrieval)
    }

    /// Sends per second in the measured part.
    pub fn send_rate(&self) -> f64 {
        self.measured().count() as f64 / self.config.duration.as_secs_f64()
    }

    /// Transactions of the measured part confirmed, per second of it.
    pub fn throughput(&self) -> f64 {
        self.measured().filter(|s| s.confirmation.is_some()).count() as f64
            / self.config.duration.as_secs_f64()
    }

    /// Failures of the measured part by reason, most frequent first.
    pub fn failures(&self) -> Vec<(String, usize)> {
        let mut by: HashMap<String, usize> = HashMap::new();
        for s in self.measured() {
            if let Some(f) = &s.failure {
                *by.entry(f.class()).or_default() += 1;
            }
        }
        let mut out: Vec<(String, usize)> = by.into_iter().collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

/// What the dispatcher takes from the generator.
enum Work {
    /// A transaction, for the node its sender uses.
    Tx(Signed, usize),
    /// A query, for any node.
    Query(Held),
}

/// Shared between the send tasks and the confirmation reader.
struct Book {
    start: Instant,
    samples: Vec<Sample>,
    /// Admitted transactions not confirmed yet: hash → (sample, node, issuance).
    waiting: HashMap<Hash, (usize, Option<Held>)>,
    /// Confirmations read before their submission was answered, by node.
    early: HashMap<(usize, Hash), Confirmed>,
    /// Credentials in finalized blocks, for grants and queries.
    committed: Vec<Held>,
    /// Transactions confirmed (for the progress line).
    confirmed: u64,
    /// Confirmation latencies of the last second (for the progress line).
    recent: Vec<Duration>,
}

impl Book {
    fn confirm(&mut self, i: usize, at: &Confirmed, issues: Option<Held>) {
        let sample = &mut self.samples[i];
        if sample.confirmation.is_some() {
            return;
        }
        let sent = self.start + sample.sent;
        let latency = at.at.saturating_duration_since(sent);
        sample.confirmation = Some(latency);
        sample.height = Some(at.height);
        self.confirmed += 1;
        self.recent.push(latency);
        if let Some(held) = issues {
            self.committed.push(held);
        }
    }
}

fn lock(book: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs one step against `apis` with `actors` (whose accounts exist on the chain).
/// Transactions go to their sender's node (accounts are spread over the nodes, as
/// clients of different institutions would be); queries go to the nodes in turn.
pub async fn run_step(
    apis: &[Api],
    actors: Arc<Mutex<Actors>>,
    config: StepConfig,
) -> Result<StepResult, Failure> {
    if apis.is_empty() {
        return Err(Failure::Transport("no node to send to".into()));
    }
    if !(config.rate > 0.0 && config.rate <= 1_000_000.0) {
        return Err(Failure::Transport(format!(
            "the rate must be above 0 and at most 1,000,000 a second, not {}",
            config.rate
        )));
    }
    // Subscribe first: no confirmation may be missed.
    let (events_tx, mut events) = mpsc::unbounded_channel::<(usize, Confirmed)>();
    for (n, api) in apis.iter().enumerate() {
        let mut stream = api.confirmations().await?;
        let events_tx = events_tx.clone();
        tokio::spawn(async move {
            while let Some(c) = stream.recv().await {
                if events_tx.send((n, c)).is_err() {
                    return;
                }
            }
        });
    }
    drop(events_tx);
    let total = config.warmup + config.duration;
    let start = Instant::now() + Duration::from_millis(200);
    let schedule = OpenLoop {
        start,
        rate: config.rate,
    };
    let count = schedule.sends_within(total);
    let book = Arc::new(Mutex::new(Book {
        start,
        samples: Vec::with_capacity(usize::try_from(count).unwrap_or(0)),
        waiting: HashMap::new(),
        early: HashMap::new(),
        committed: Vec::new(),
        confirmed: 0,
        recent: Vec::new(),
    }));

    // The confirmation reader.
    let reader = {
        let book = book.clone();
        tokio::spawn(async move {
            let mut purged = Instant::now();
            while let Some((node, c)) = events.recv().await {
                let mut b = lock(&book);
                match b.waiting.get(&c.hash) {
                    Some(&(i, _)) if b.samples[i].node == node => {
                        let issues = b.waiting.remove(&c.hash).and_then(|(_, h)| h);
                        b.confirm(i, &c, issues);
                    }
                    // Another node's report of a transaction of ours.
                    Some(_) => {}
                    None => {
                        b.early.insert((node, c.hash), c);
                    }
                }
                // Reports of transactions that are not ours (or that another node
                // reported) would otherwise pile up.
                if purged.elapsed() > Duration::from_secs(5) {
                    let cutoff = Instant::now() - Duration::from_secs(30);
                    b.early.retain(|_, c| c.at > cutoff);
                    purged = Instant::now();
                }
            }
        })
    };

    let nodes = apis.len();
    // The generator: builds and signs ahead of the schedule on a thread of its own,
    // at most two seconds' worth ahead.
    let ahead = (config.rate * 2.0).clamp(16.0, 200_000.0) as usize;
    let (work_tx, mut work_rx) = mpsc::channel::<Work>(ahead);
    let generator = {
        let (actors, book, mut mix) = (actors.clone(), book.clone(), config.mix.clone());
        std::thread::spawn(move || -> Result<(), String> {
            let mut rng = OsRng;
            let mut next_certifier = 0usize;
            for _ in 0..count {
                let op = mix.next_op();
                let committed = {
                    let b = lock(&book);
                    if b.committed.is_empty() {
                        None
                    } else {
                        Some(b.committed[rng.gen_range(0..b.committed.len())].clone())
                    }
                };
                let mut actors = actors.lock().unwrap_or_else(PoisonError::into_inner);
                // Each account sends to one node, as a client of that node would: its
                // transactions then reach the mempool in nonce order.
                let work = match (op, committed) {
                    (Op::Query, Some(held)) => Work::Query(held),
                    (Op::Grant, Some(held)) => {
                        let node = held.subject % nodes;
                        Work::Tx(actors.grant(&held, now_ms(), &mut rng)?, node)
                    }
                    // Until a credential is committed, grants and queries wait: the
                    // warm-up issues first.
                    _ => {
                        let k = next_certifier % actors.certifiers.len().max(1);
                        next_certifier += 1;
                        let j = rng.gen_range(0..actors.subjects.len().max(1));
                        Work::Tx(actors.issue(k, j, now_ms(), &mut rng)?, k % nodes)
                    }
                };
                drop(actors);
                if work_tx.blocking_send(work).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        })
    };

    // The progress line.
    let progress = config.progress.then(|| {
        let book = book.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let mut b = lock(&book);
                let recent = std::mem::take(&mut b.recent);
                let p50 = Summary::of(&recent)
                    .map_or("-".to_string(), |s| format!("{:.1} ms", ms(s.p50)));
                eprint!(
                    "\r  {:>5.1} s  sent {:>8}  committed {:>8}  confirmation p50 {:>9}   ",
                    b.start.elapsed().as_secs_f64(),
                    b.samples.len(),
                    b.confirmed,
                    p50
                );
            }
        })
    });

    let apis: Arc<Vec<Api>> = Arc::new(apis.to_vec());
    let warmup = config.warmup;
    let dispatched = {
        let book = book.clone();
        let book2 = book.clone();
        dispatch(
            schedule,
            total,
            &mut work_rx,
            move |i, work: &Work| {
                let node = match work {
                    Work::Tx(_, node) => *node,
                    Work::Query(_) => usize::try_from(i).unwrap_or(0) % nodes,
                };
                let mut b = lock(&book);
                let sent = schedule.due(i).saturating_duration_since(start);
                let op = Op::Issue;
                b.samples.push(Sample {
                    index: i,
                    op,
                    node,
                    sent,
                    warmup: sent < warmup,
                    submission: None,
                    confirmation: None,
                    retrieval: None,
                    height: None,
                    hash: None,
                    failure: None,
                });
                node
            },
            move |i, node, work| {
                let (apis, book) = (apis.clone(), book2.clone());
                async move {
                    let idx = usize::try_from(i).unwrap_or(usize::MAX);
                    let api = &apis[node];
                    let sent_at = Instant::now();
                    match work {
                        Work::Query(held) => {
                            lock(&book).samples[idx].op = Op::Query;
                            let got = api
                                .get(&format!("/v1/credentials/{}", held.credential))
                                .await;
                            let took = sent_at.elapsed();
                            let mut b = lock(&book);
                            match got {
                                Ok(_) => b.samples[idx].retrieval = Some(took),
                                Err(e) => b.samples[idx].failure = Some(e),
                            }
                        }
                        Work::Tx(signed, _) => {
                            lock(&book).samples[idx].op = signed.op;
                            let got = api.submit(signed.bytes).await;
                            let took = sent_at.elapsed();
                            let mut b = lock(&book);
                            match got {
                                Ok(hash) => {
                                    b.samples[idx].submission = Some(took);
                                    b.samples[idx].hash = Some(hash);
                                    if let Some(c) = b.early.remove(&(node, hash)) {
                                        b.confirm(idx, &c, signed.issues);
                                    } else {
                                        b.waiting.insert(hash, (idx, signed.issues));
                                    }
                                }
                                Err(e) => b.samples[idx].failure = Some(e),
                            }
                        }
                    }
                }
            },
        )
        .await
    };
    drop(work_rx);
    let generated = tokio::task::spawn_blocking(move || generator.join())
        .await
        .map_err(|e| Failure::Transport(e.to_string()))?;
    match generated {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Failure::Transport(format!("building transactions: {e}"))),
        Err(_) => {
            return Err(Failure::Transport(
                "the transaction builder panicked".into(),
            ))
        }
    }

    // Drain: every send answered and every admitted transaction confirmed, or the
    // drain time is over.
    let deadline = Instant::now() + config.drain;
    loop {
        let settled = {
            let b = lock(&book);
            b.waiting.is_empty()
                && b.samples
                    .iter()
                    .all(|s| s.submission.is_some() || s.retrieval.is_some() || s.failure.is_some())
        };
        if settled || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reader.abort();
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    let mut b = lock(&book);
    let waiting: Vec<usize> = b.waiting.values().map(|(i, _)| *i).collect();
    for i in waiting {
        b.samples[i].failure = Some(Failure::NotConfirmed(config.drain));
    }
    for s in &mut b.samples {
        if s.submission.is_none() && s.retrieval.is_none() && s.failure.is_none() {
            s.failure = Some(Failure::Transport(format!(
                "no answer within the drain time ({:?})",
                config.drain
            )));
        }
    }
    let samples = std::mem::take(&mut b.samples);
    Ok(StepResult {
        samples,
        dispatched,
        config,
        nodes,
    })
}

/// Milliseconds, fractional.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
