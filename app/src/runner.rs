//! The page's side of the inference worker: start it, send it work, turn its messages into
//! typed events, and cancel by terminating it (then start a fresh one).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Float64Array, Uint16Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::msg::{get, get_f64, get_string, obj};
use crate::teach_panel::{Picture, TeachEvent};

/// A finished segmentation as the worker sends it.
#[derive(Clone)]
pub struct Finished {
    pub backend: String,
    pub model_name: String,
    pub model_load_ms: f64,
    pub inference_ms: f64,
    pub plan: String,
    pub largest_activation: f64,
    /// Labels on the input grid, x fastest.
    pub labels: Vec<u16>,
    pub volumes_ml: Vec<f64>,
    pub names: Vec<String>,
    /// The segmentation as .nii.gz bytes, on the input grid (core's write_labels).
    pub nifti: Vec<u8>,
}

pub enum Event {
    Ready {
        backend: String,
        text: String,
    },
    Progress {
        stage: String,
        done: usize,
        total: usize,
    },
    Done(Box<Finished>),
    Error(String),
    /// Fine-tuning (crate::train in the worker).
    Train(TrainEvent),
    /// A teaching view (crate::teach in the worker).
    Teach(TeachEvent),
}

/// What the worker reports while fine-tuning.
#[derive(Clone, Debug)]
pub enum TrainEvent {
    Plan {
        text: String,
    },
    Step {
        step: usize,
        total: usize,
        loss: f64,
        dice: f64,
        steps_per_sec: f64,
    },
    Val {
        step: usize,
        dice: f64,
    },
    Done {
        bundle: Vec<u8>,
        steps: usize,
        stopped: bool,
        name: String,
    },
    Error(String),
}

type Handler = Rc<dyn Fn(Event)>;

pub struct Runner {
    worker: Worker,
    cpu_only: bool,
    handler: Handler,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

thread_local! {
    static RUNNER: RefCell<Option<Runner>> = const { RefCell::new(None) };
}

/// (Re)start the worker; `handler` receives every event.
pub fn start(cpu_only: bool, handler: Handler) -> Result<(), String> {
    stop();
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    opts.set_name("brainfm-inference");
    let worker = Worker::new_with_options("static/worker.js", &opts).map_err(|e| {
        format!(
            "the browser could not start the inference worker ({})",
            crate::file::js_message(&e)
        )
    })?;
    let h = handler.clone();
    let w = worker.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let data = ev.data();
        match get_string(&data, "type").as_str() {
            "hello" => {
                let _ = w.post_message(&obj(&[
                    ("type", "init".into()),
                    ("cpuOnly", cpu_only.into()),
                ]));
            }
            "ready" => h(Event::Ready {
                backend: get_string(&data, "backend"),
                text: get_string(&data, "text"),
            }),
            "progress" => h(Event::Progress {
                stage: get_string(&data, "stage"),
                done: get_f64(&data, "done") as usize,
                total: get_f64(&data, "total") as usize,
            }),
            "done" => h(match finished(&data) {
                Some(f) => Event::Done(Box::new(f)),
                None => Event::Error("internal error: the worker's result was incomplete".into()),
            }),
            "error" => h(Event::Error(get_string(&data, "message"))),
            "trainPlan" => h(Event::Train(TrainEvent::Plan {
                text: get_string(&data, "text"),
            })),
            "trainStep" => h(Event::Train(TrainEvent::Step {
                step: get_f64(&data, "step") as usize,
                total: get_f64(&data, "total") as usize,
                loss: get_f64(&data, "loss"),
                dice: get_f64(&data, "dice"),
                steps_per_sec: get_f64(&data, "stepsPerSec"),
            })),
            "trainVal" => h(Event::Train(TrainEvent::Val {
                step: get_f64(&data, "step") as usize,
                dice: get_f64(&data, "dice"),
            })),
            "trained" => h(Event::Train(
                match get(&data, "bundle").dyn_into::<Uint8Array>() {
                    Ok(b) => TrainEvent::Done {
                        bundle: b.to_vec(),
                        steps: get_f64(&data, "steps") as usize,
                        stopped: crate::msg::get_bool(&data, "stopped"),
                        name: get_string(&data, "name"),
                    },
                    Err(_) => TrainEvent::Error("internal error: no model came back".into()),
                },
            )),
            "trainError" => h(Event::Train(TrainEvent::Error(get_string(
                &data, "message",
            )))),
            "taught" => h(Event::Teach(taught(&data))),
            "teachError" => h(Event::Teach(TeachEvent::Failed {
                view: get_string(&data, "view"),
                message: get_string(&data, "message"),
            })),
            _ => {}
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let h = handler.clone();
    let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |ev: ErrorEvent| {
        let message = ev.message();
        h(Event::Error(if message.is_empty() {
            "the inference worker stopped with an error (see the browser console)".into()
        } else {
            format!("the inference worker stopped: {message}")
        }));
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    RUNNER.with(|r| {
        *r.borrow_mut() = Some(Runner {
            worker,
            cpu_only,
            handler,
            _on_message: on_message,
            _on_error: on_error,
        })
    });
    Ok(())
}

fn stop() {
    RUNNER.with(|r| {
        if let Some(old) = r.borrow_mut().take() {
            old.worker.terminate();
        }
    });
}

/// Send a segmentation job. The bytes are copied into the worker.
pub fn run(scan: &[u8], bundle: &[u8]) -> Result<(), String> {
    RUNNER.with(|r| {
        let r = r.borrow();
        let runner = r.as_ref().ok_or("the inference worker is not running")?;
        let msg = obj(&[
            ("type", "run".into()),
            ("scan", Uint8Array::from(scan).into()),
            ("bundle", Uint8Array::from(bundle).into()),
        ]);
        runner.worker.post_message(&msg).map_err(|e| {
            format!(
                "could not send the job to the worker ({})",
                crate::file::js_message(&e)
            )
        })
    })
}

/// Send any message to the worker (fine-tuning requests; see crate::train).
pub fn post(msg: &JsValue) -> Result<(), String> {
    RUNNER.with(|r| {
        let r = r.borrow();
        let runner = r.as_ref().ok_or("the compute worker is not running")?;
        runner.worker.post_message(msg).map_err(|e| {
            format!(
                "could not send the request to the worker ({})",
                crate::file::js_message(&e)
            )
        })
    })
}

/// Stop whatever the worker is doing (terminate it) and start a fresh one with the same
/// settings. Returns the error if the new one cannot start.
pub fn cancel() -> Result<(), String> {
    let current = RUNNER.with(|r| r.borrow().as_ref().map(|r| (r.cpu_only, r.handler.clone())));
    match current {
        Some((cpu_only, handler)) => start(cpu_only, handler),
        None => Ok(()),
    }
}

fn finished(data: &JsValue) -> Option<Finished> {
    let labels = get(data, "labels").dyn_into::<Uint16Array>().ok()?.to_vec();
    let volumes_ml = get(data, "volumes")
        .dyn_into::<Float64Array>()
        .ok()?
        .to_vec();
    let nifti = get(data, "nifti").dyn_into::<Uint8Array>().ok()?.to_vec();
    let names = js_sys::Array::from(&get(data, "names"))
        .iter()
        .map(|v| v.as_string().unwrap_or_default())
        .collect();
    Some(Finished {
        backend: get_string(data, "backend"),
        model_name: get_string(data, "modelName"),
        model_load_ms: get_f64(data, "modelLoadMs"),
        inference_ms: get_f64(data, "inferenceMs"),
        plan: get_string(data, "plan"),
        largest_activation: get_f64(data, "largestActivation"),
        labels,
        volumes_ml,
        names,
        nifti,
    })
}

fn taught(data: &JsValue) -> TeachEvent {
    let view = get_string(data, "view");
    let mut images = Vec::new();
    for p in js_sys::Array::from(&get(data, "images")).iter() {
        let Ok(values) = get(&p, "data").dyn_into::<js_sys::Float32Array>() else {
            return TeachEvent::Failed {
                view,
                message: "internal error: a picture came back without data".into(),
            };
        };
        images.push(Picture {
            key: get_string(&p, "key"),
            width: get_f64(&p, "width") as usize,
            height: get_f64(&p, "height") as usize,
            data: values.to_vec(),
        });
    }
    let stats_obj = get(data, "stats");
    let stats: Vec<(String, f64)> =
        js_sys::Object::keys(stats_obj.unchecked_ref::<js_sys::Object>())
            .iter()
            .filter_map(|k| k.as_string())
            .map(|k| {
                let v = get_f64(&stats_obj, &k);
                (k, v)
            })
            .collect();
    TeachEvent::Done {
        view,
        images,
        stats,
    }
}
