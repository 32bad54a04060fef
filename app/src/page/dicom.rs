//! DICOM in the tab: the files the user picks or drops (or a whole folder through the
//! folder picker) are read here, grouped into series by core, and the series is stacked
//! into a volume by core; with several series the user picks one from a list. Nothing
//! leaves the tab, as for every other file.

use brainfm_core::volume::dicom::{
    group_series, looks_like_dicom, read_dicom, read_series, Pixels, SeriesInfo,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::File;

use super::browser;
use super::run::Run;
use super::scan::{self, MAX_VOXELS};
use super::viewer::{ScanState, Viewer};

/// The DICOM files last opened and the series they hold.
#[derive(Clone, Copy)]
pub struct DicomPick {
    files: StoredValue<Vec<(String, Vec<u8>)>, LocalStorage>,
    series: RwSignal<Vec<SeriesInfo>>,
    /// The series on show, if one is.
    shown: RwSignal<Option<usize>>,
    /// Files given that were not DICOM or could not be read (name, reason).
    left_out: RwSignal<Vec<(String, String)>>,
}

impl DicomPick {
    pub fn new() -> Self {
        DicomPick {
            files: StoredValue::new_local(Vec::new()),
            series: RwSignal::new(Vec::new()),
            shown: RwSignal::new(None),
            left_out: RwSignal::new(Vec::new()),
        }
    }

    /// Read `files`, keep the DICOM ones and find their series; one series opens at once,
    /// several wait for the user's pick.
    pub fn gather(self, viewer: Viewer, run: Run, files: Vec<File>) {
        let count = files.len();
        viewer
            .state
            .set(ScanState::Busy(format!("Reading {count} files as DICOM…")));
        spawn_local(async move {
            let (mut kept, mut headers, mut left_out) = (Vec::new(), Vec::new(), Vec::new());
            for f in files {
                let name = f.name();
                match browser::read_bytes(&f).await {
                    Ok(bytes) if looks_like_dicom(&bytes) => {
                        match read_dicom(&bytes, &name, Pixels::Skip) {
                            Ok(h) => {
                                headers.push(h);
                                kept.push((name, bytes));
                            }
                            Err(e) => left_out.push((name, e.to_string())),
                        }
                    }
                    Ok(_) => left_out.push((
                        name,
                        "not a scan (NIfTI, FreeSurfer) nor a DICOM file nor a brainfm model"
                            .into(),
                    )),
                    Err(e) => left_out.push((name, e)),
                }
            }
            let series = group_series(&headers);
            self.files.set_value(kept);
            self.left_out.set(left_out.clone());
            self.shown.set(None);
            self.series.set(series.clone());
            match series.len() {
                0 => viewer.state.set(ScanState::Failed(match left_out.first() {
                    Some((name, why)) if left_out.len() == 1 => {
                        format!("Could not open {name}: {why}")
                    }
                    Some((name, why)) => format!(
                        "None of the {} files is a readable DICOM image (e.g. {name}: {why})",
                        left_out.len()
                    ),
                    None => "No files were given".into(),
                })),
                1 => self.open(viewer, run, 0),
                n => viewer.state.set(ScanState::Failed(format!(
                    "The files hold {n} DICOM series: pick one below."
                ))),
            }
        });
    }

    /// Stack series `index` and show it.
    pub fn open(self, viewer: Viewer, run: Run, index: usize) {
        let Some(info) = self.series.with_untracked(|s| s.get(index).cloned()) else {
            return;
        };
        self.shown.set(Some(index));
        let busy = format!("Stacking DICOM series {}…", info.label());
        viewer.open_with(run, busy, move || {
            let (image, bytes) = self.files.with_value(|files| {
                let bytes: usize = info.files_in(files).map(|(_, b)| b.len()).sum();
                (read_series(info.files_in(files), MAX_VOXELS), bytes)
            });
            let image = image.map_err(|e| {
                format!(
                    "Could not open DICOM series {}: {}",
                    info.label(),
                    scan::plain_error(e)
                )
            })?;
            let format = format!("DICOM series of {} files", info.files.len());
            scan::from_image(&info.label(), image, None, bytes, format)
        });
    }
}

/// The series found among the DICOM files opened, when there is a choice to make.
#[component]
pub fn DicomSeriesList() -> impl IntoView {
    let pick = expect_context::<DicomPick>();
    let viewer = expect_context::<Viewer>();
    let run = expect_context::<Run>();
    view! {
        <div class="dicom-series" data-testid="dicom-series" hidden=move || pick.series.with(|s| s.len() < 2)>
            <p>"DICOM series in the files opened:"</p>
            <ul>
                {move || pick.series.get().into_iter().enumerate().map(|(i, s)| view! {
                    <li><button type="button" data-testid=format!("dicom-series-{i}")
                        aria-pressed=move || (pick.shown.get() == Some(i)).to_string()
                        on:click=move |_| pick.open(viewer, run, i)>{s.label()}</button></li>
                }).collect_view()}
            </ul>
        </div>
        <p class="hint" data-testid="dicom-left-out" hidden=move || pick.left_out.with(|l| l.is_empty() || pick.series.with(|s| s.is_empty()))>
            {move || pick.left_out.with(|l| format!("{} files were left out (not DICOM images): {}", l.len(),
                l.iter().take(3).map(|(n, why)| format!("{n}: {why}")).collect::<Vec<_>>().join("; ")))}
        </p>
    }
}
