//! What a flow costs on AWS, priced from the requests the tests count on moto: API Gateway,
//! Lambda invocations × their measured durations × the template's memory, DynamoDB request units
//! from the items each request names and their sizes in the table, SQS requests and
//! Scheduler invocations. README, "What it costs on AWS", lists the prices and their date.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use herald_aws::{RequestCounter, Sizes};

/// US East (N. Virginia) list prices in dollars, without free tiers, as of [`PRICED_ON`].
pub mod price {
    /// HTTP API, per request (first 300 million a month).
    pub const API_GATEWAY_REQUEST: f64 = 1.00 / 1e6;
    /// Lambda, per invocation.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// Lambda on arm64 (the template's default), per GB-second.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    /// DynamoDB on demand, per write request unit (1 KB; 2 units in a transaction).
    pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
    /// DynamoDB on demand, per read request unit (4 KB strongly consistent; 2 in a transaction).
    pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
    /// SQS standard queue, per request (each 64 KB chunk).
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    /// EventBridge Scheduler, per invocation (creating and deleting schedules is free).
    pub const SCHEDULER_INVOCATION: f64 = 1.00 / 1e6;
    /// Step Functions standard workflows, per state transition.
    pub const STEP_FUNCTIONS_TRANSITION: f64 = 0.025 / 1e3;
}

/// The date of the prices in [`price`].
pub const PRICED_ON: &str = "2026-12-02";

/// One Lambda invocation: the template's memory for the function and how long it ran here.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    /// `MemorySize` in the template.
    pub memory_mb: u32,
    /// The handler's duration, measured (a debug build against moto on loopback: an
    /// overestimate of the release build against DynamoDB).
    pub millis: f64,
}

/// The requests and invocations of one flow.
#[derive(Debug, Default)]
pub struct Flow {
    /// API Gateway requests.
    pub api_requests: u64,
    /// Lambda invocations.
    pub invocations: Vec<Invocation>,
    /// SDK requests, by `Service.Operation`.
    pub requests: BTreeMap<String, u64>,
    /// What the SDK requests carried.
    pub sizes: BTreeMap<String, Sizes>,
    /// Scheduler invocations (schedules that fired).
    pub scheduler_invocations: u64,
    /// SQS requests made by Lambda's event source mapping (receiving and deleting the messages
    /// Herald sent), which no Herald client makes.
    pub sqs_polling_requests: u64,
}

impl Flow {
    /// Runs `call` as one Lambda invocation of a function with `memory_mb`: times it and adds
    /// what `counter` counted during it.
    pub async fn invoke<T>(
        &mut self,
        memory_mb: u32,
        counter: &RequestCounter,
        call: impl std::future::Future<Output = T>,
    ) -> T {
        counter.reset();
        let started = std::time::Instant::now();
        let out = call.await;
        self.invocations.push(Invocation {
            memory_mb,
            millis: started.elapsed().as_secs_f64() * 1e3,
        });
        self.take(counter);
        out
    }

    /// Adds what `counter` counted since its last reset, and resets it.
    pub fn take(&mut self, counter: &RequestCounter) {
        for (op, n) in counter.snapshot() {
            *self.requests.entry(op).or_default() += n;
        }
        for (op, s) in counter.sizes() {
            let e = self.sizes.entry(op).or_default();
            e.items.extend(s.items);
            e.responses.extend(s.responses);
        }
        counter.reset();
    }
}

/// A flow's bill, in dollars per flow, by line.
#[derive(Debug, Default)]
pub struct Bill {
    /// (line, dollars, what it counts).
    pub lines: Vec<(&'static str, f64, String)>,
}

impl Bill {
    /// The whole bill, in dollars per flow.
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|(_, d, _)| d).sum()
    }

    /// The bill as the bench prints it, per million flows.
    pub fn print(&self, name: &str) {
        for (line, dollars, what) in &self.lines {
            println!(
                "cost: {name}: {line:<22} ${:>7.3} per million ({what})",
                dollars * 1e6
            );
        }
        println!(
            "cost: {name}: {:<22} ${:>7.3} per million",
            "total",
            self.total() * 1e6
        );
    }
}

/// DynamoDB's size of an item (attribute names plus values), in bytes.
pub fn item_bytes(item: &std::collections::HashMap<String, AttributeValue>) -> u64 {
    item.iter()
        .map(|(name, v)| name.len() as u64 + value_bytes(v))
        .sum()
}

fn value_bytes(v: &AttributeValue) -> u64 {
    match v {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => n.len().div_ceil(2) as u64 + 1,
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Ss(v) => v.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) as u64 + 1).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len() as u64).sum(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() as u64 + value_bytes(v))
                .sum::<u64>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_bytes(v)).sum::<u64>(),
        _ => 1,
    }
}

/// Every item in `table` by (`pk`, `sk`), with what a write of it costs.
pub async fn item_sizes(client: &aws_sdk_dynamodb::Client, table: &str) -> ItemSizes {
    let mut sizes = ItemSizes::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        for item in page.items() {
            let part = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            sizes.insert((part("pk"), part("sk")), ItemSize::of(item));
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return sizes,
        }
    }
}

/// An item's size, and the size of its entry in each secondary index that holds it (the
/// template's `gsi1` and `gsi2` project the whole item, `gsi3` its keys): a write of the item
/// writes those entries too.
#[derive(Debug, Clone, Default)]
pub struct ItemSize {
    /// The item, in bytes.
    pub bytes: u64,
    /// Each index entry, in bytes.
    pub index_entries: Vec<u64>,
}

impl ItemSize {
    fn of(item: &std::collections::HashMap<String, AttributeValue>) -> Self {
        let bytes = item_bytes(item);
        let attr = |k: &str| item.get(k).map_or(0, |v| k.len() as u64 + value_bytes(v));
        let mut index_entries = Vec::new();
        for (index, whole) in [("gsi1", true), ("gsi2", true), ("gsi3", false)] {
            if !item.contains_key(&format!("{index}pk")) {
                continue;
            }
            index_entries.push(if whole {
                bytes
            } else {
                ["pk", "sk", &format!("{index}pk"), &format!("{index}sk")]
                    .iter()
                    .map(|k| attr(k))
                    .sum()
            });
        }
        Self {
            bytes,
            index_entries,
        }
    }

    /// Write units of one write of the item: the item per KB, and each index entry per KB.
    pub fn write_units(&self) -> u64 {
        self.bytes.div_ceil(1024).max(1)
            + self
                .index_entries
                .iter()
                .map(|b| b.div_ceil(1024).max(1))
                .sum::<u64>()
    }
}

/// Items by (`pk`, `sk`).
pub type ItemSizes = std::collections::HashMap<(String, String), ItemSize>;

/// Prices `flow`. Each item a request names is priced at its size in `sizes` (the table after
/// the flow: an updated item at its final size, the larger one as a rule) with its index entries,
/// or, if the flow deleted it, at what the request carried for it. An update that moves an item
/// in an index costs that index two writes (a delete and a put); this counts one.
pub fn bill(flow: &Flow, sizes: &ItemSizes) -> Bill {
    let mut bill = Bill::default();
    let named = |op: &str| {
        flow.sizes
            .get(&format!("DynamoDB.{op}"))
            .map(|s| s.items.clone())
            .unwrap_or_default()
    };
    let write_units = |op: &str| -> f64 {
        named(op)
            .iter()
            .map(|(key, carried)| match sizes.get(key) {
                Some(item) => item.write_units() as f64,
                None => carried.div_ceil(1024).max(1) as f64,
            })
            .sum()
    };
    let read_units = |op: &str| -> f64 {
        named(op)
            .iter()
            .map(|(key, carried)| {
                let bytes = sizes.get(key).map_or(*carried, |i| i.bytes);
                bytes.div_ceil(4096).max(1) as f64
            })
            .sum()
    };
    let (mut writes, mut reads) = (0.0, 0.0);
    let mut largest = 0;
    for s in flow.sizes.values() {
        for (key, carried) in &s.items {
            largest = largest.max(sizes.get(key).map_or(*carried, |i| i.bytes));
        }
    }
    for op in flow.requests.keys() {
        let Some(op) = op.strip_prefix("DynamoDB.") else {
            continue;
        };
        match op {
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" => writes += write_units(op),
            "TransactWriteItems" => writes += 2.0 * write_units(op),
            "GetItem" | "BatchGetItem" => reads += read_units(op),
            "TransactGetItems" => reads += 2.0 * read_units(op),
            // A query reads at least one unit, one per 4 KB it returns, rounded up per answer.
            "Query" | "Scan" => {
                reads += flow.sizes.get(&format!("DynamoDB.{op}")).map_or(0.0, |s| {
                    s.responses
                        .iter()
                        .map(|b| b.div_ceil(4096).max(1) as f64)
                        .sum()
                })
            }
            _ => {}
        }
    }
    let (write_units, read_units) = (writes, reads);
    let gb_seconds: f64 = flow
        .invocations
        .iter()
        .map(|i| i.millis.ceil() / 1e3 * f64::from(i.memory_mb) / 1024.0)
        .sum();
    let sqs = flow
        .requests
        .iter()
        .filter(|(op, _)| op.starts_with("SQS.") && *op != "SQS.ReceiveMessage")
        .map(|(_, n)| n)
        .sum::<u64>()
        + flow.sqs_polling_requests;
    let ms: Vec<String> = flow
        .invocations
        .iter()
        .map(|i| format!("{:.0} ms", i.millis))
        .collect();
    bill.lines = vec![
        (
            "API Gateway",
            flow.api_requests as f64 * price::API_GATEWAY_REQUEST,
            format!("{} request", flow.api_requests),
        ),
        (
            "Lambda requests",
            flow.invocations.len() as f64 * price::LAMBDA_REQUEST,
            format!("{} invocations", flow.invocations.len()),
        ),
        (
            "Lambda duration",
            gb_seconds * price::LAMBDA_GB_SECOND,
            format!("{gb_seconds:.4} GB-s: {}", ms.join(", ")),
        ),
        (
            "DynamoDB writes",
            write_units * price::DYNAMODB_WRITE_UNIT,
            format!("{write_units:.0} write units with the index entries, items up to {largest} B"),
        ),
        (
            "DynamoDB reads",
            read_units * price::DYNAMODB_READ_UNIT,
            format!("{read_units:.0} read units"),
        ),
        (
            "SQS",
            sqs as f64 * price::SQS_REQUEST,
            format!("{sqs} requests"),
        ),
        (
            "Scheduler",
            flow.scheduler_invocations as f64 * price::SCHEDULER_INVOCATION,
            format!("{} invocations", flow.scheduler_invocations),
        ),
    ];
    bill
}

/// The same flow on Step Functions standard workflows: an API Gateway request starting the
/// execution, `transitions` state transitions (a Wait state, one task per step) and the
/// DynamoDB write of the in-app message.
pub fn step_functions(transitions: u64) -> Bill {
    Bill {
        lines: vec![
            (
                "API Gateway",
                price::API_GATEWAY_REQUEST,
                "1 request (StartExecution)".into(),
            ),
            (
                "state transitions",
                transitions as f64 * price::STEP_FUNCTIONS_TRANSITION,
                format!("{transitions} transitions"),
            ),
            (
                "DynamoDB writes",
                price::DYNAMODB_WRITE_UNIT,
                "1 write unit (the message)".into(),
            ),
        ],
    }
}
