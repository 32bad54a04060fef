//! Opening files: the picker, drag and drop anywhere on the page, and the bundled sample.
//! A scan goes to the viewer, a .bfm to the model store, by the file's name; the other
//! files are tried as DICOM together (`dicom.rs`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{File, HtmlInputElement};

use brainfm_core::volume::is_scan_name;

use super::browser::{self, fetch_bytes};
use super::dicom::{DicomPick, DicomSeriesList};
use super::dropped;
use super::model::Models;
use super::run::Run;
use super::viewer::{ScanState, Viewer};

/// The bundled sample scan (same origin; see www/LICENSES.md).
const SAMPLE_URL: &str = "sample/colin27_t1_2mm.nii.gz";
const SAMPLE_NAME: &str = "colin27_t1_2mm.nii.gz (sample)";

/// The stores a file can land in.
#[derive(Clone, Copy)]
pub struct Opener {
    viewer: Viewer,
    models: Models,
    run: Run,
    dicom: DicomPick,
}

impl Opener {
    /// From the page's context (call while building a component).
    pub fn from_context() -> Self {
        Opener {
            viewer: expect_context(),
            models: expect_context(),
            run: expect_context(),
            dicom: expect_context(),
        }
    }

    /// A model (`is_model`) or a scan from the picker or a drop.
    fn open(self, f: File, is_model: bool) {
        let name = f.name();
        if !is_model {
            self.viewer
                .state
                .set(ScanState::Busy(format!("Reading {name}…")));
        }
        spawn_local(async move {
            match browser::read_bytes(&f).await {
                Ok(bytes) if is_model => self.models.load(name, bytes),
                Ok(bytes) => self.viewer.load(self.run, name, bytes),
                Err(message) if is_model => self
                    .models
                    .read_failed(format!("Could not read {name}: {message}")),
                Err(message) => self.viewer.state.set(ScanState::Failed(format!(
                    "Could not read {name}: {message}"
                ))),
            }
        });
    }

    /// Scans and models by their names; every other file is tried as DICOM (scanners name
    /// them IM0001, 1.2.840....dcm or nothing at all), all together, as one set of series.
    fn open_all(self, files: Option<web_sys::FileList>) {
        if let Some(files) = files {
            self.open_files((0..files.length()).filter_map(|i| files.get(i)).collect());
        }
    }

    fn open_files(self, files: Vec<File>) {
        let mut others = Vec::new();
        for f in files {
            let lower = f.name().to_lowercase();
            // A bare .gz is tried as a scan too: the reader looks at the content.
            match lower.ends_with(".bfm") {
                true => self.open(f, true),
                false if is_scan_name(&lower) || lower.ends_with(".gz") => self.open(f, false),
                false => others.push(f),
            }
        }
        if !others.is_empty() {
            self.dicom.gather(self.viewer, self.run, others);
        }
    }

    /// Files (or folders: their files, walked) dropped anywhere on the page.
    pub fn drop(self, ev: leptos::ev::DragEvent) {
        ev.prevent_default();
        let Some(data) = ev.data_transfer() else {
            return;
        };
        let entries = dropped::entries(&data);
        if !dropped::has_folder(&entries) {
            return self.open_all(data.files());
        }
        self.viewer
            .state
            .set(ScanState::Busy("Listing the dropped folder…".into()));
        spawn_local(async move { self.open_files(dropped::files(entries).await) });
    }

    fn load_sample(self) {
        self.viewer
            .state
            .set(ScanState::Busy("Fetching the sample scan…".into()));
        spawn_local(async move {
            match fetch_bytes(SAMPLE_URL).await {
                Ok(bytes) => self.viewer.load(self.run, SAMPLE_NAME.into(), bytes),
                Err(e) => self.viewer.state.set(ScanState::Failed(format!(
                    "Could not load the sample scan: {e}"
                ))),
            }
        });
    }
}

/// The open section; `children` is the model panel.
#[component]
pub fn OpenPanel(children: Children) -> impl IntoView {
    let opener = Opener::from_context();
    let viewer = opener.viewer;
    let on_pick = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        opener.open_all(input.files());
        // Let the same file be picked again.
        input.set_value("");
    };
    // A folder picker: `webkitdirectory` (every current browser) is not in Leptos's typed
    // attributes, so it is set on the element.
    let folder: NodeRef<leptos::html::Input> = NodeRef::new();
    Effect::new(move |_| {
        if let Some(el) = folder.get() {
            let _ = el.set_attribute("webkitdirectory", "");
        }
    });
    view! {
        <section class="open">
            <label for="files">"Open a brain MRI scan (NIfTI .nii/.nii.gz, FreeSurfer .mgz/.mgh, or the files of a DICOM series) and a brainfm model (.bfm) — or drop them anywhere on the page"</label>
            <input id="files" data-testid="file" type="file" multiple on:change=on_pick />
            <label for="dicom-folder">" or a folder of DICOM files: "</label>
            <input id="dicom-folder" data-testid="dicom-folder" type="file" multiple node_ref=folder on:change=on_pick />
            <button type="button" data-testid="sample" on:click=move |_| opener.load_sample()>"Open the sample scan (Colin27, 2 mm)"</button>
            <p class="privacy">"Files are read and processed inside this tab; nothing is uploaded. The page makes no requests to other sites."</p>
            <div data-testid="scan-state" aria-live="polite">{move || match viewer.state.get() {
                ScanState::Empty => view! { <p class="hint">"No scan open yet."</p> }.into_any(),
                ScanState::Busy(text) => view! { <p class="busy">{text}</p> }.into_any(),
                ScanState::Loaded => ().into_any(),
                ScanState::Failed(message) => view! { <p class="error" role="alert" data-testid="error">{message}</p> }.into_any(),
            }}</div>
            <DicomSeriesList />
            {children()}
        </section>
    }
}
