//! Detections in the loader (docs/detectors.md): what a detection record prints as, and the
//! detector conditions the kernel cannot decide, evaluated on the record with the `cel`
//! crate (Tracee's detector conditions are CEL). The kernel sent the record because every
//! other filter of the detection held; a condition that fails to evaluate counts as false.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use cel::{Context, Program, Value};
use schema::catalog;
use schema::image::{DetectorMeta, Image};
use schema::record::{ArgValue, Record};

/// One detector of the image, with its loader conditions compiled per base event.
struct Detector {
    meta: DetectorMeta,
    conditions: HashMap<u32, Vec<Program>>,
}

/// The detectors of one image, by event id.
#[derive(Default)]
pub struct Detections {
    by_event: HashMap<u32, Detector>,
}

thread_local! {
    /// The fields of the record being decided, for `getEventData` (a CEL function cannot
    /// borrow them: functions are registered once per context, for every record).
    static EVENT_DATA: RefCell<HashMap<String, Value>> = RefCell::new(HashMap::new());
}

fn get_event_data(name: Arc<String>) -> Value {
    EVENT_DATA.with(|d| {
        d.borrow()
            .get(name.as_str())
            .cloned()
            .unwrap_or(Value::Null)
    })
}

impl Detections {
    pub fn new(image: &Image) -> Detections {
        let by_event = image
            .meta
            .detectors
            .iter()
            .map(|d| {
                let conditions = d
                    .bases
                    .iter()
                    .map(|b| {
                        // The compiler parsed them; one that does not compile here never
                        // holds (the detection is not printed).
                        let programs = b
                            .loader
                            .iter()
                            .map(|c| Program::compile(&c.condition).ok())
                            .collect::<Option<Vec<_>>>();
                        (b.event, programs.unwrap_or_default())
                    })
                    .collect();
                (
                    d.event_id,
                    Detector {
                        meta: d.clone(),
                        conditions,
                    },
                )
            })
            .collect();
        Detections { by_event }
    }

    /// The detector of a detection record when its loader conditions hold on it; None
    /// when one does not (or the detector is not the image's).
    /// `container_id`: the record's container's id ("" outside containers), asked only when a
    /// condition runs here.
    pub fn decide(
        &self,
        record: &Record,
        container_id: impl FnOnce() -> String,
    ) -> Option<&DetectorMeta> {
        let h = &record.header;
        let d = self.by_event.get(&h.event_id)?;
        let programs = d.conditions.get(&h.detected_from)?;
        if programs.is_empty() {
            return Some(&d.meta);
        }
        holds(programs, record, container_id()).then_some(&d.meta)
    }
}

/// Do all the conditions hold on the record?
fn holds(programs: &[Program], record: &Record, container_id: String) -> bool {
    let h = &record.header;
    let Some(base) = catalog::event_by_id(h.detected_from) else {
        return false;
    };
    let data: HashMap<String, Value> = record
        .args
        .iter()
        .filter_map(|a| {
            let def = base.args.get(usize::from(a.index))?;
            Some((def.name.to_owned(), cel_value(&a.value)))
        })
        .collect();
    EVENT_DATA.with(|d| *d.borrow_mut() = data);
    let mut context = Context::default();
    if context
        .add_function("getEventData", get_event_data)
        .is_err()
    {
        return false;
    }
    context.add_variable_from_value("eventName", base.name);
    let comm = schema::abi::c_str(&h.comm).to_owned();
    let exe = std::fs::read_link(format!("/proc/{}/exe", h.host_pid))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let workload: HashMap<&str, Value> = HashMap::from([
        (
            "process",
            Value::from(HashMap::from([
                ("name", Value::from(comm)),
                // Tracee's process ids: in the task's pid namespace, and the host's.
                ("pid", Value::Int(i64::from(h.pid))),
                ("host_pid", Value::Int(i64::from(h.host_pid))),
                ("tid", Value::Int(i64::from(h.tid))),
                (
                    "executable",
                    Value::from(HashMap::from([("path", Value::from(exe))])),
                ),
            ])),
        ),
        (
            "container",
            Value::from(HashMap::from([("id", Value::from(container_id))])),
        ),
    ]);
    context.add_variable_from_value("workload", workload);
    programs
        .iter()
        .all(|p| matches!(p.execute(&context), Ok(Value::Bool(true))))
}

/// A record field as CEL sees it: integers as `int` where they fit (Tracee's conditions
/// compare them with int literals), socket addresses as Tracee's map.
fn cel_value(value: &ArgValue) -> Value {
    match value {
        ArgValue::Int(v) => Value::Int(*v),
        ArgValue::UInt(v) => i64::try_from(*v).map_or(Value::UInt(*v), Value::Int),
        ArgValue::Str(s) => Value::from(s.clone()),
        ArgValue::Bytes(b) => Value::Bytes(Arc::new(b.clone())),
        ArgValue::StrArray(items) => {
            Value::List(Arc::new(items.iter().cloned().map(Value::from).collect()))
        }
        ArgValue::Bool(b) => Value::Bool(*b),
        ArgValue::SockAddr(bytes) => json_value(&crate::print::sockaddr(bytes)),
        ArgValue::Cred(_) => Value::Null,
        ArgValue::Json(v) => json_value(v),
    }
}

fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n.as_i64().map_or(Value::Null, Value::Int),
        serde_json::Value::String(s) => Value::from(s.clone()),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_value).collect()))
        }
        serde_json::Value::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect::<HashMap<String, Value>>(),
        ),
    }
}
