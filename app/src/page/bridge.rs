//! The page's side of the compute worker: start it, send it typed requests, hand its replies
//! to one handler, and cancel by terminating it. A fresh worker (after a cancel, a CPU /
//! WebGPU switch, a crash or a lost WebGPU device) gets the last scan and models again, so the page's state and
//! the worker's never disagree; requests sent before the worker is up wait for it.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::protocol::{wire, Reply, Request, Slot};

type Handler = Rc<dyn Fn(Reply)>;

struct Bridge {
    worker: Worker,
    cpu_only: bool,
    handler: Handler,
    /// The worker said `Hello`: requests go straight out.
    up: bool,
    /// Requests waiting for `Hello`, encoded.
    waiting: Vec<Vec<u8>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// The last scan and models sent, encoded, for a fresh worker.
#[derive(Default)]
struct Replay {
    scan: Option<Vec<u8>>,
    segmentation: Option<Vec<u8>>,
    teaching: Option<Vec<u8>>,
}

thread_local! {
    static BRIDGE: RefCell<Option<Bridge>> = const { RefCell::new(None) };
    static REPLAY: RefCell<Replay> = RefCell::new(Replay::default());
}

fn post_bytes(worker: &Worker, bytes: &[u8]) -> Result<(), String> {
    let array = Uint8Array::new_with_length(bytes.len() as u32);
    array.copy_from(bytes);
    worker
        .post_message_with_transfer(&array, &Array::of1(&array.buffer()))
        .map_err(|e| {
            format!(
                "could not send the request to the worker ({})",
                crate::js::message(&e)
            )
        })
}

/// (Re)start the worker; `handler` receives every reply but `Hello`.
pub fn start(cpu_only: bool, handler: Handler) -> Result<(), String> {
    stop();
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    opts.set_name("brainfm-compute");
    let worker = Worker::new_with_options("static/worker.js", &opts).map_err(|e| {
        format!(
            "the browser could not start the compute worker ({})",
            crate::js::message(&e)
        )
    })?;
    let h = handler.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let data = ev.data();
        let reply = match data.dyn_ref::<Uint8Array>() {
            Some(bytes) => wire::decode::<Reply>(&bytes.to_vec())
                .unwrap_or_else(|e| Reply::Failed(format!("internal error: the page got {e}"))),
            // www/static/worker.js, in plain JS: a lost WebGPU device, or why the module
            // could not start (as plain text).
            None => match device_lost(&data) {
                Some(lost) => lost,
                None => Reply::Failed(data.as_string().unwrap_or_else(|| {
                    "the compute worker sent a message the page does not know".into()
                })),
            },
        };
        match reply {
            Reply::Hello => worker_up(),
            other => h(other),
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let h = handler.clone();
    let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |ev: ErrorEvent| {
        let message = ev.message();
        h(Reply::Failed(if message.is_empty() {
            "the compute worker stopped with an error (see the browser console)".into()
        } else {
            format!("the compute worker stopped: {message}; a fresh one is starting")
        }));
        // A worker that failed after it was up may be broken (a trap inside a request
        // leaves its queue stuck): replace it, after this handler has returned, since
        // replacing drops the closure that is running. One that never came up is not
        // restarted, so a module that cannot load does not loop.
        if BRIDGE.with(|b| b.borrow().as_ref().is_some_and(|b| b.up)) {
            wasm_bindgen_futures::spawn_local(async {
                if let Err(e) = cancel() {
                    failed(e);
                }
            });
        }
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    BRIDGE.with(|b| {
        *b.borrow_mut() = Some(Bridge {
            worker,
            cpu_only,
            handler,
            up: false,
            waiting: Vec::new(),
            _on_message: on_message,
            _on_error: on_error,
        })
    });
    Ok(())
}

/// `{ deviceLost: { reason, message } }` from www/static/worker.js.
fn device_lost(data: &JsValue) -> Option<Reply> {
    let lost = crate::js::get(data, "deviceLost");
    (lost.is_object()).then(|| Reply::DeviceLost {
        reason: crate::js::get_string(&lost, "reason"),
        message: crate::js::get_string(&lost, "message"),
    })
}

/// `Hello`: choose the device, hand over the kept scan and models, then what waited.
fn worker_up() {
    let result = BRIDGE.with(|b| {
        let mut b = b.borrow_mut();
        let Some(bridge) = b.as_mut() else {
            return Ok(());
        };
        bridge.up = true;
        post_bytes(
            &bridge.worker,
            &wire::encode(&Request::Init {
                cpu_only: bridge.cpu_only,
            }),
        )?;
        REPLAY.with(|r| {
            let r = r.borrow();
            for kept in [&r.scan, &r.segmentation, &r.teaching]
                .into_iter()
                .flatten()
            {
                post_bytes(&bridge.worker, kept)?;
            }
            Ok::<(), String>(())
        })?;
        for waiting in std::mem::take(&mut bridge.waiting) {
            post_bytes(&bridge.worker, &waiting)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        failed(e);
    }
}

/// Tell the handler, outside any borrow of the bridge.
fn failed(message: String) {
    if let Some(h) = BRIDGE.with(|b| b.borrow().as_ref().map(|b| b.handler.clone())) {
        h(Reply::Failed(message));
    }
}

fn stop() {
    BRIDGE.with(|b| {
        if let Some(old) = b.borrow_mut().take() {
            // Detached first: a message the old worker posted just before it ended must
            // not reach its handlers, which go with it.
            old.worker.set_onmessage(None);
            old.worker.set_onerror(None);
            old.worker.terminate();
        }
    });
}

/// Send `request`. A scan or a model is also kept for any later worker; a worker that is
/// not up yet gets it with the others at `Hello`, so it is not queued a second time.
pub fn send(request: &Request) -> Result<(), String> {
    let bytes = wire::encode(request);
    REPLAY.with(|r| {
        let mut r = r.borrow_mut();
        let kept = match request {
            Request::Scan(_) => Some(&mut r.scan),
            Request::Model {
                slot: Slot::Segmentation,
                ..
            } => Some(&mut r.segmentation),
            Request::Model {
                slot: Slot::Teaching,
                ..
            } => Some(&mut r.teaching),
            _ => None,
        };
        BRIDGE.with(|b| {
            let mut b = b.borrow_mut();
            let bridge = b.as_mut();
            match kept {
                Some(slot) => {
                    let bytes = slot.insert(bytes);
                    match bridge {
                        Some(bridge) if bridge.up => post_bytes(&bridge.worker, bytes),
                        Some(_) => Ok(()),
                        None => Err("the compute worker is not running".into()),
                    }
                }
                None => {
                    let bridge = bridge.ok_or("the compute worker is not running")?;
                    if bridge.up {
                        post_bytes(&bridge.worker, &bytes)
                    } else {
                        bridge.waiting.push(bytes);
                        Ok(())
                    }
                }
            }
        })
    })
}

/// Stop whatever the worker is doing (terminate it) and start a fresh one with the same
/// settings. Returns the error if the new one cannot start.
pub fn cancel() -> Result<(), String> {
    let current = BRIDGE.with(|b| b.borrow().as_ref().map(|b| (b.cpu_only, b.handler.clone())));
    match current {
        Some((cpu_only, handler)) => start(cpu_only, handler),
        None => Ok(()),
    }
}
