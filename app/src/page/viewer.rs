//! The open scan and its three synced views: facts, window/level, the planes with the
//! crosshair and the label overlay.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use brainfm_core::volume::scan_stem;

use super::browser;
use super::edit::Editor;
use super::format;
use super::render::{label_colour, mm_per_pixel, render_slice, Plane, Rgba, SliceGeom};
use super::run::Run;
use super::scan::{self, Loaded};
use crate::protocol::{Request, ScanImage};

/// Longest side of a view, in canvas pixels.
const VIEW_PX: usize = 448;

#[derive(Debug, Clone, PartialEq)]
pub enum ScanState {
    Empty,
    Busy(String),
    Loaded,
    Failed(String),
}

/// The open scan and how it is shown.
#[derive(Clone, Copy)]
pub struct Viewer {
    pub state: RwSignal<ScanState>,
    scan: StoredValue<Option<Loaded>, LocalStorage>,
    /// Bumped whenever `scan` changes (StoredValue is not reactive).
    pub rev: RwSignal<u64>,
    cursor: RwSignal<[usize; 3]>,
    win: RwSignal<(f64, f64)>,
}

impl Viewer {
    pub fn new() -> Self {
        Viewer {
            state: RwSignal::new(ScanState::Empty),
            scan: StoredValue::new_local(None),
            rev: RwSignal::new(0),
            cursor: RwSignal::new([0; 3]),
            win: RwSignal::new((0.0, 1.0)),
        }
    }

    /// A scan is open (tracked).
    pub fn has_scan(self) -> bool {
        self.state.with(|s| *s == ScanState::Loaded)
    }

    pub fn with_scan<R>(self, f: impl FnOnce(&Loaded) -> R) -> Option<R> {
        self.scan.with_value(|s| s.as_ref().map(f))
    }

    /// The crosshair in world (scanner RAS) millimetres.
    pub fn cursor_mm(self) -> Option<[f64; 3]> {
        let c = self.cursor.get_untracked();
        self.with_scan(|s| {
            s.display
                .voxel_to_world([c[0] as f64, c[1] as f64, c[2] as f64])
        })
    }

    /// The open scan as the diagnostics report it: its grid, never its name or voxels.
    pub fn summary(self) -> Vec<(String, String)> {
        self.with_scan(|s| {
            let i = &s.info;
            vec![
                (
                    "Scan grid".to_string(),
                    format!(
                        "{:?} voxels of {:?} mm, {}, {}",
                        i.dims, i.spacing, i.datatype, i.orientation
                    ),
                ),
                (
                    "Scan file size".to_string(),
                    format!("{} bytes", i.file_bytes),
                ),
            ]
        })
        .unwrap_or_else(|| vec![("Scan".into(), "none open".into())])
    }

    /// The file name without its extension, for exported files.
    pub fn stem(self) -> String {
        self.with_scan(|s| {
            let base = s.info.name.split(' ').next().unwrap_or(&s.info.name);
            scan_stem(base.trim_end_matches(".gz")).to_string()
        })
        .unwrap_or_default()
    }

    /// Decode and show a scan (replacing any previous one and its segmentation), and hand
    /// the decoded image to the worker.
    pub fn load(self, run: Run, name: String, bytes: Vec<u8>) {
        self.open_with(run, format!("Decoding {name}…"), move || {
            scan::open(&name, &bytes).map_err(|m| format!("Could not open {name}: {m}"))
        });
    }

    /// Show a scan `decode` makes (after the status line has painted): the one way a scan
    /// reaches the page, whatever its format.
    pub fn open_with(
        self,
        run: Run,
        busy: String,
        decode: impl FnOnce() -> Result<(Loaded, ScanImage), String> + 'static,
    ) {
        run.cancel();
        self.state.set(ScanState::Busy(busy));
        spawn_local(async move {
            browser::yield_to_paint().await;
            match decode() {
                Ok((loaded, image)) => {
                    let d = loaded.display.dims;
                    let s = loaded.info.stats;
                    self.win.set((s.p01 as f64, s.p99 as f64));
                    self.cursor.set([d[0] / 2, d[1] / 2, d[2] / 2]);
                    self.scan.set_value(Some(loaded));
                    run.clear();
                    self.state.set(ScanState::Loaded);
                    self.rev.update(|r| *r += 1);
                    if let Err(e) = super::bridge::send(&Request::Scan(Box::new(image))) {
                        run.failed(e);
                    }
                }
                Err(message) => self.state.set(ScanState::Failed(message)),
            }
        });
    }
}

#[component]
pub fn ScanSection() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let run = expect_context::<Run>();
    let canvases: [NodeRef<html::Canvas>; 3] = [NodeRef::new(), NodeRef::new(), NodeRef::new()];
    // Redraw the three views whenever what they show changes.
    Effect::new(move |_| {
        viewer.rev.track();
        run.seg_rev.track();
        let cursor = viewer.cursor.get();
        let win = viewer.win.get();
        let lut = run.lut();
        draw_views(viewer, run, &canvases, cursor, win, &lut);
    });
    view! {
        <section class="scan" hidden=move || !viewer.has_scan() data-testid="scan">
            {move || { viewer.rev.track(); facts(viewer) }}
            <WindowControls />
            <div class="views">
                {Plane::ALL.into_iter().zip(canvases).map(|(plane, canvas)| view! { <PlaneView plane=plane canvas=canvas /> }).collect_view()}
            </div>
            <p class="caption">{move || { viewer.rev.track(); viewer.with_scan(|s| s.info.caption()).unwrap_or_default() }}</p>
        </section>
    }
}

fn facts(viewer: Viewer) -> AnyView {
    viewer
        .with_scan(|s| {
            let rows = s
                .info
                .facts()
                .into_iter()
                .map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> })
                .collect_view();
            view! {
                <h2>{s.info.name.clone()}</h2>
                <dl class="facts" data-testid="facts">{rows}</dl>
            }
            .into_any()
        })
        .unwrap_or_else(|| ().into_any())
}

#[component]
fn WindowControls() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let win = viewer.win;
    let range = move || {
        viewer.rev.track();
        viewer
            .with_scan(|s| (s.info.stats.min as f64, s.info.stats.max as f64))
            .unwrap_or((0.0, 1.0))
    };
    let step = move || {
        let (lo, hi) = range();
        ((hi - lo) / 500.0).max(1e-6).to_string()
    };
    view! {
        <div class="window">
            <label>"Level "
                <input type="range" data-testid="level" min=move || range().0.to_string() max=move || range().1.to_string() step=step
                    prop:value=move || { let (lo, hi) = win.get(); ((lo + hi) / 2.0).to_string() }
                    on:input=move |ev| { if let Ok(c) = event_target_value(&ev).parse::<f64>() {
                        win.update(|(lo, hi)| { let w = *hi - *lo; *lo = c - w / 2.0; *hi = c + w / 2.0; });
                    } } />
            </label>
            <label>"Window "
                <input type="range" data-testid="width" min=step max=move || { let (lo, hi) = range(); (hi - lo).to_string() } step=step
                    prop:value=move || { let (lo, hi) = win.get(); (hi - lo).to_string() }
                    on:input=move |ev| { if let Ok(w) = event_target_value(&ev).parse::<f64>() {
                        win.update(|(lo, hi)| { let c = (*lo + *hi) / 2.0; *lo = c - w / 2.0; *hi = c + w / 2.0; });
                    } } />
            </label>
            <span class="muted">{move || { let (lo, hi) = win.get(); format!("{} to {}", format::number(lo), format::number(hi)) }}</span>
            <button type="button" on:click=move |_| {
                if let Some(s) = viewer.with_scan(|s| s.info.stats) { win.set((s.p01 as f64, s.p99 as f64)); }
            }>"Reset (1st–99th percentile)"</button>
        </div>
    }
}

#[component]
fn PlaneView(plane: Plane, canvas: NodeRef<html::Canvas>) -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let run = expect_context::<Run>();
    let editor = expect_context::<Editor>();
    let cursor = viewer.cursor;
    let ax = plane.axes();
    let dims = move || {
        viewer.rev.track();
        viewer.with_scan(|s| s.display.dims).unwrap_or([1; 3])
    };
    let ras = move || {
        viewer.rev.track();
        viewer.with_scan(|s| s.info.shown_in_ras).unwrap_or(false)
    };
    let mark = move |i: usize| move || if ras() { plane.marks()[i] } else { "" };
    let step = move |delta: i64| {
        let n = dims()[ax.fixed] as i64;
        cursor.update(|c| c[ax.fixed] = (c[ax.fixed] as i64 + delta).clamp(0, n - 1) as usize);
    };
    let point = move |ev: &leptos::ev::MouseEvent| {
        let Some(el) = canvas.get_untracked() else {
            return;
        };
        let el: HtmlCanvasElement = el;
        let rect = el.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return;
        }
        let x = (ev.client_x() - rect.left()) * el.width() as f64 / rect.width();
        let y = (ev.client_y() - rect.top()) * el.height() as f64 / rect.height();
        let Some(geom) = viewer.with_scan(|s| view_geom(s, plane)) else {
            return;
        };
        let (c, r) = (geom.col_voxel(x), geom.row_voxel(y));
        if editor.drawing() {
            let mut at = cursor.get_untracked();
            at[ax.col] = c;
            at[ax.row] = r;
            editor.paint(viewer, run, plane, at);
            return;
        }
        cursor.update(|cur| {
            cur[ax.col] = c;
            cur[ax.row] = r;
        });
    };
    let end_stroke = move || {
        if editor.drawing() {
            run.end_stroke();
        }
    };
    let name = plane.name().to_lowercase();
    view! {
        <figure class="plane">
            <figcaption>{move || format!("{} — slice {} of {}", plane.name(), cursor.get()[ax.fixed] + 1, dims()[ax.fixed])}</figcaption>
            <div class="view">
                <canvas node_ref=canvas tabindex="0" data-testid=format!("view-{name}")
                    aria-label=format!("{} view: click to move the crosshair, arrow keys to change slice", plane.name())
                    on:mousedown=move |ev| point(&ev)
                    on:mousemove=move |ev| { if ev.buttons() & 1 == 1 { point(&ev) } }
                    on:mouseup=move |_| end_stroke()
                    on:mouseleave=move |_| end_stroke()
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.ctrl_key() || ev.meta_key() {
                            let redo = match ev.key().as_str() {
                                "z" | "Z" => ev.shift_key(),
                                "y" | "Y" => true,
                                _ => return,
                            };
                            ev.prevent_default();
                            run.step_edits(redo);
                            return;
                        }
                        let d = match ev.key().as_str() {
                            "ArrowUp" | "ArrowRight" => 1,
                            "ArrowDown" | "ArrowLeft" => -1,
                            "PageUp" => 10,
                            "PageDown" => -10,
                            _ => return,
                        };
                        ev.prevent_default();
                        step(d);
                    }></canvas>
                <span class="mark left">{mark(0)}</span>
                <span class="mark right">{mark(1)}</span>
                <span class="mark top">{mark(2)}</span>
                <span class="mark bottom">{mark(3)}</span>
            </div>
            <input type="range" min="0" max=move || (dims()[ax.fixed] - 1).to_string() step="1"
                data-testid=format!("slider-{name}") aria-label=format!("{} slice", plane.name())
                prop:value=move || cursor.get()[ax.fixed].to_string()
                on:input=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<usize>() {
                    cursor.update(|c| c[ax.fixed] = v.min(dims()[ax.fixed] - 1));
                } } />
        </figure>
    }
}

fn view_geom(s: &Loaded, plane: Plane) -> SliceGeom {
    let v = &s.display;
    SliceGeom::new(
        plane,
        v.dims,
        v.spacing,
        mm_per_pixel(v.dims, v.spacing, VIEW_PX),
    )
}

fn draw_views(
    viewer: Viewer,
    run: Run,
    canvases: &[NodeRef<html::Canvas>; 3],
    cursor: [usize; 3],
    win: (f64, f64),
    lut: &[[u8; 4]],
) {
    viewer.with_scan(|s| {
        run.with_display_labels(|labels| {
            let labels = labels.filter(|l| l.len() == s.display.data.len());
            for (plane, canvas) in Plane::ALL.into_iter().zip(canvases) {
                let Some(el) = canvas.get_untracked() else {
                    continue;
                };
                let geom = view_geom(s, plane);
                let ax = plane.axes();
                let (img, shown) = render_slice(
                    &s.display.data,
                    labels,
                    lut,
                    s.display.dims,
                    &geom,
                    cursor[ax.fixed],
                    win.0 as f32,
                    win.1 as f32,
                );
                let _ = paint(
                    &el,
                    &img,
                    geom.col_pixel(cursor[ax.col]),
                    geom.row_pixel(cursor[ax.row]),
                );
                let _ = el.set_attribute("data-overlay", &shown.to_string());
            }
        })
    });
}

/// Sizes `canvas` to `img` (only when it differs: resizing clears it) and draws `img`;
/// returns the 2D context for drawing on top.
pub fn put_rgba(
    canvas: &HtmlCanvasElement,
    img: &Rgba,
) -> Result<CanvasRenderingContext2d, JsValue> {
    if canvas.width() != img.width || canvas.height() != img.height {
        canvas.set_width(img.width);
        canvas.set_height(img.height);
    }
    let ctx: CanvasRenderingContext2d = canvas
        .get_context("2d")?
        .ok_or_else(|| JsValue::from_str("no 2D context"))?
        .unchecked_into();
    let data = ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&img.pixels[..]),
        img.width,
        img.height,
    )?;
    ctx.put_image_data(&data, 0, 0)?;
    Ok(ctx)
}

fn paint(canvas: &HtmlCanvasElement, img: &Rgba, cx: f64, cy: f64) -> Result<(), JsValue> {
    let ctx = put_rgba(canvas, img)?;
    ctx.set_stroke_style_str("rgba(0, 255, 0, 0.7)");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    let (w, h) = (img.width as f64, img.height as f64);
    let (x, y) = (cx.floor() + 0.5, cy.floor() + 0.5);
    ctx.move_to(x, 0.0);
    ctx.line_to(x, h);
    ctx.move_to(0.0, y);
    ctx.line_to(w, y);
    ctx.stroke();
    Ok(())
}

/// Colours of the label overlay: each label's colour with its opacity (0 when hidden).
pub fn overlay_lut(styles: &[(bool, f64)]) -> Vec<[u8; 4]> {
    styles
        .iter()
        .enumerate()
        .map(|(l, &(visible, opacity))| {
            let [r, g, b] = label_colour(l);
            let a = if visible && l != 0 {
                (opacity.clamp(0.0, 1.0) * 255.0).round() as u8
            } else {
                0
            };
            [r, g, b, a]
        })
        .collect()
}
