//! Hostile-input and feature comparison: brainfm-core's reader (copied into ../corecopy)
//! vs the `nifti` crate 0.18.0. Over 500 lines: most of it is the table of 51 cases, which
//! reads best as one list (docs/NIFTI_READER.md numbers them).
//!
//!   hostile                      -> runs every case in a child process for each reader
//!                                   (ulimit -v 4 GiB, `timeout -s KILL 20`), prints a table
//!   hostile run <core|nifti> <i> -> the child: decodes case i, prints one line
//!   features                     -> feature checks, in-process with catch_unwind
//!   list                         -> case names
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use corecopy::encode_header;
use corecopy::volume::{read_nifti, write_volume, Grid, NiftiHeader, ReadOptions};
use nifti::{IntoNdArray, NiftiObject, NiftiVolume};

// ---------- allocation accounting ----------
struct Counting;
static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static MAXREQ: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        MAXREQ.fetch_max(l.size(), Relaxed);
        let p = System.alloc(l);
        if p.is_null() {
            let _ = writeln!(std::io::stderr(), "ALLOC-FAILED request={}", l.size());
        } else {
            let c = CUR.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(c, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CUR.fetch_sub(l.size(), Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        MAXREQ.fetch_max(n, Relaxed);
        let q = System.realloc(p, l, n);
        if q.is_null() {
            let _ = writeln!(std::io::stderr(), "ALLOC-FAILED request={n}");
        } else {
            let c = CUR.fetch_add(n, Relaxed) + n;
            PEAK.fetch_max(c, Relaxed);
            CUR.fetch_sub(l.size(), Relaxed);
        }
        q
    }
}
#[global_allocator]
static A: Counting = Counting;

fn mib(b: usize) -> String {
    format!("{:.1}MiB", b as f64 / 1048576.0)
}

// ---------- case construction (mirrors core/src/volume/nifti/tests.rs) ----------
fn header(dims: [i64; 3], datatype: i32, bitpix: i32) -> NiftiHeader {
    NiftiHeader {
        dim: [3, dims[0], dims[1], dims[2], 1, 1, 1, 1],
        datatype,
        bitpix,
        pixdim: [1.0, 1.5, 2.0, 2.5, 0.0, 0.0, 0.0, 0.0],
        sform_code: 1,
        srow_x: [0.0, 0.0, -2.5, 10.0],
        srow_y: [-1.5, 0.0, 0.0, 20.0],
        srow_z: [0.0, 2.0, 0.0, -30.0],
        ..Default::default()
    }
}
fn file(h: &NiftiHeader, data: &[u8]) -> Vec<u8> {
    let mut b = encode_header(h);
    b.extend_from_slice(data);
    b
}
fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}
/// header + `n` zero bytes, gzip-compressed without holding them uncompressed
fn gz_zeros(head: &[u8], n: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(head).unwrap();
    let z = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(z.len());
        e.write_all(&z[..k]).unwrap();
        left -= k;
    }
    e.finish().unwrap()
}
fn ok_file() -> (NiftiHeader, Vec<u8>) {
    let h = header([2, 3, 4], 2, 8);
    let data: Vec<u8> = (0..24).collect();
    let f = file(&h, &data);
    (h, f)
}
fn with(f: impl FnOnce(&mut NiftiHeader)) -> Vec<u8> {
    let (mut h, _) = ok_file();
    f(&mut h);
    file(&h, &(0..24).collect::<Vec<u8>>())
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let (h, okf) = ok_file();
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        ("control: valid u8 2x3x4 .nii", okf.clone()),
        ("control: valid u8 2x3x4 .nii.gz", gz(&okf)),
        ("100-byte file (shorter than header)", vec![0u8; 100]),
        ("100 bytes, gzipped", gz(&[0u8; 100])),
        ("sizeof_hdr = 1234", {
            let mut f = okf.clone();
            f[..4].copy_from_slice(&1234i32.to_le_bytes());
            f
        }),
        ("magic \"xyz\\0\"", {
            let mut f = okf.clone();
            f[344..348].copy_from_slice(b"xyz\0");
            f
        }),
        ("magic \"ni1\\0\" (hdr/img pair) in memory", {
            let mut f = okf.clone();
            f[344..348].copy_from_slice(b"ni1\0");
            f
        }),
        ("dim[2] = 0", with(|h| h.dim[2] = 0)),
        ("dim[2] = -5", with(|h| h.dim[2] = -5)),
        ("dim[0] = 8", with(|h| h.dim[0] = 8)),
        ("dim[0] = 0", with(|h| h.dim[0] = 0)),
        ("32767^3 f64 (3.5e13 voxels) in 400 B", file(&header([32767, 32767, 32767], 64, 64), &[0; 48])),
        ("30000^3 u8 (2.7e13 voxels) in 400 B", file(&header([30000, 30000, 30000], 2, 8), &[0; 48])),
        ("NIfTI-2, dims i64::MAX^3", {
            let mut h2 = header([1, 1, 1], 2, 8);
            h2.version = 2;
            h2.dim = [3, i64::MAX, i64::MAX, i64::MAX, 1, 1, 1, 1];
            h2.vox_offset = 544.0;
            file(&h2, &[0; 8])
        }),
        ("512^3 f32 declared (512 MiB), 400 B file", file(&header([512, 512, 512], 16, 32), &[0; 48])),
        ("512^3 f32 declared, 400 B, gzipped", gz(&file(&header([512, 512, 512], 16, 32), &[0; 48]))),
        ("vox_offset = 100", with(|h| h.vox_offset = 100.0)),
        ("vox_offset = 1e9", with(|h| h.vox_offset = 1e9)),
        ("vox_offset = 1e9, gzipped", gz(&with(|h| h.vox_offset = 1e9))),
        ("vox_offset = 352.5", with(|h| h.vox_offset = 352.5)),
        ("vox_offset = NaN", with(|h| h.vox_offset = f64::NAN)),
        ("data 1 byte short", okf[..okf.len() - 1].to_vec()),
        ("data 1 byte short, gzipped", gz(&okf[..okf.len() - 1])),
        ("pixdim[2] = NaN", with(|h| h.pixdim[2] = f64::NAN)),
        ("srow_y[3] = +Inf", with(|h| h.srow_y[3] = f64::INFINITY)),
        ("qform only, quatern_c = NaN", with(|h| {
            h.sform_code = 0;
            h.qform_code = 1;
            h.quatern_c = f64::NAN;
        })),
        ("qform only, qoffset_z = -Inf", with(|h| {
            h.sform_code = 0;
            h.qform_code = 1;
            h.qoffset_z = f64::NEG_INFINITY;
        })),
        ("qform only, pixdim[0] (qfac) = 0", with(|h| {
            h.sform_code = 0;
            h.qform_code = 1;
            h.pixdim[0] = 0.0;
        })),
        ("qform only, pixdim[1] = -1.5", with(|h| {
            h.sform_code = 0;
            h.qform_code = 1;
            h.pixdim[1] = -1.5;
        })),
        ("qform only, b^2+c^2+d^2 = 2", with(|h| {
            h.sform_code = 0;
            h.qform_code = 1;
            h.quatern_b = 1.0;
            h.quatern_c = 1.0;
        })),
        ("pixdim[1..4] = 0 (sform given)", with(|h| {
            h.pixdim[1] = 0.0;
            h.pixdim[2] = 0.0;
            h.pixdim[3] = 0.0;
        })),
        ("pixdim = 0 and sform all zero", with(|h| {
            h.pixdim[1..4].copy_from_slice(&[0.0; 3]);
            h.srow_x = [0.0; 4];
            h.srow_y = [0.0; 4];
            h.srow_z = [0.0; 4];
        })),
        ("datatype 128 rgb24", file(&header([2, 3, 4], 128, 24), &[0; 200])),
        ("datatype 32 complex64", file(&header([2, 3, 4], 32, 64), &[0; 200])),
        ("datatype 1 binary", file(&header([2, 3, 4], 1, 1), &[0; 200])),
        ("datatype 0 unknown", file(&header([2, 3, 4], 0, 0), &[0; 200])),
        ("datatype 999 (not a code)", file(&header([2, 3, 4], 999, 8), &[0; 200])),
        ("int16 with bitpix 8", file(&header([2, 3, 4], 4, 8), &[0; 48])),
        ("float32 with bitpix 64", file(&header([2, 3, 4], 16, 64), &[0; 200])),
        ("float32 with bitpix -32", file(&header([2, 3, 4], 16, -32), &[0; 200])),
        ("gzip: 8 bytes flipped mid-stream", {
            let mut z = gz(&okf);
            let mid = z.len() / 2;
            for b in &mut z[mid..mid + 8] {
                *b ^= 0xa5;
            }
            z
        }),
        ("gzip header + garbage", vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]),
        ("gzip: CRC trailer corrupted", {
            let mut z = gz(&okf);
            let n = z.len();
            z[n - 8] ^= 0xff;
            z
        }),
        ("gzip: tiny image + 64 MiB trailing zeros", gz_zeros(&okf, 64 << 20)),
        ("gzip bomb: 640^3 u8 zeros (>core limit)", gz_zeros(&encode_header(&header([640, 640, 640], 2, 8)), 640 * 640 * 640)),
        ("gzip bomb: 512^3 f32 zeros (=core limit)", gz_zeros(&encode_header(&header([512, 512, 512], 16, 32)), 512 * 512 * 512 * 4)),
        ("ext esize = 2^31-1 (extender set)", {
            let mut h = h.clone();
            h.vox_offset = 368.0;
            let mut f = encode_header(&h);
            f[348] = 1;
            f.extend_from_slice(&i32::MAX.to_le_bytes());
            f.extend_from_slice(&[0; 12]);
            f.extend((0..24).map(|x| x as u8));
            f
        }),
        ("ext esize = 0 loop, 128 MiB zeros gz", {
            let mut h = h.clone();
            h.vox_offset = 1e9;
            let mut head = encode_header(&h);
            head[348] = 1;
            gz_zeros(&head, 128 << 20)
        }),
        // valid files that a correct reader must decode exactly
        ("VALID: vox_offset 368, 16 pad bytes", {
            let mut h = h.clone();
            h.vox_offset = 368.0;
            let mut f = encode_header(&h);
            f.extend_from_slice(&[0xEE; 16]);
            f.extend((0..24).map(|x| x as u8));
            f
        }),
        ("VALID: 2 concatenated gzip members", {
            let mut z = gz(&okf[..200]);
            z.extend(gz(&okf[200..]));
            z
        }),
        ("VALID: scl_slope = NaN (means unscaled)", with(|h| h.scl_slope = f64::NAN)),
        ("VALID: 256^3 int16 .nii.gz (memory)", {
            let h = header([256, 256, 256], 4, 16);
            let mut f = encode_header(&h);
            f.extend((0..256 * 256 * 256u32).flat_map(|i| ((i % 4093) as i16).to_le_bytes()));
            gz(&f)
        }),
    ];
    v.shrink_to_fit();
    v
}

// ---------- the two decoders, as an app would call them ----------
fn summary(dims: &[usize], data: &[f32], aff: [[f64; 4]; 4]) -> String {
    let first: Vec<f32> = data.iter().take(4).cloned().collect();
    let fin = aff.iter().flatten().all(|v| v.is_finite());
    format!(
        "dims {dims:?} first {first:?} affine[0]={:?} finite={fin}",
        aff[0]
    )
}

fn run_core(b: &[u8]) -> Result<String, String> {
    let img = read_nifti(b, &ReadOptions::default()).map_err(|e| e.to_string())?;
    Ok(summary(&img.volume.dims, &img.volume.data, img.volume.affine))
}

fn run_nifti(b: &[u8]) -> Result<String, String> {
    let obj = if b.starts_with(&[0x1f, 0x8b]) {
        // what the crate's own read_file does for .gz: a single-member GzDecoder
        nifti::InMemNiftiObject::from_reader(flate2::read::GzDecoder::new(b))
    } else {
        nifti::InMemNiftiObject::from_reader(b)
    }
    .map_err(|e| format!("from_reader: {e}"))?;
    let h = obj.header().clone();
    let arr = obj
        .into_volume()
        .into_ndarray::<f32>()
        .map_err(|e| format!("into_ndarray: {e}"))?;
    eprintln!("STAGE volume decoded, now header.affine()");
    let m = h.affine::<f64>();
    let mut aff = [[0.0; 4]; 4];
    for r in 0..4 {
        for c in 0..4 {
            aff[r][c] = m[(r, c)];
        }
    }
    // F-order array: memory order is x-fastest, like core's Vec (no copy)
    let data = arr.as_slice_memory_order().ok_or("not contiguous")?;
    Ok(summary(arr.shape(), data, aff))
}

fn case_path(i: usize) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../cases/{i:02}.bin"))
}

fn child(which: &str, i: usize) {
    let bytes = std::fs::read(case_path(i)).unwrap();
    PEAK.store(CUR.load(Relaxed), Relaxed);
    MAXREQ.store(0, Relaxed);
    let base = CUR.load(Relaxed);
    let t = std::time::Instant::now();
    let r = if which == "core" { run_core(&bytes) } else { run_nifti(&bytes) };
    let stats = format!(
        "[{:.2}s, peak +{}, largest alloc {}]",
        t.elapsed().as_secs_f64(),
        mib(PEAK.load(Relaxed) - base),
        mib(MAXREQ.load(Relaxed))
    );
    match r {
        Ok(s) => println!("ACCEPTED {s} {stats}"),
        Err(e) => println!("ERROR {e} {stats}"),
    }
}

fn parent() {
    let exe = std::env::current_exe().unwrap();
    let limit_kib = 4 * 1024 * 1024; // ulimit -v 4 GiB
    let cs = cases();
    std::fs::create_dir_all(case_path(0).parent().unwrap()).unwrap();
    for (i, (_, b)) in cs.iter().enumerate() {
        std::fs::write(case_path(i), b).unwrap();
    }
    println!("| # | case | core (copy) | nifti 0.18.0 |\n|---|---|---|---|");
    for (i, (name, bytes)) in cs.iter().enumerate() {
        let mut cells = vec![];
        for which in ["core", "nifti"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "ulimit -v {limit_kib}; exec timeout -s KILL 20 {} run {which} {i}",
                    exe.display()
                ))
                .output()
                .unwrap();
            let so = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let se = String::from_utf8_lossy(&out.stderr).to_string();
            let code = out.status.code();
            let cell = if let Some(l) = se.lines().find(|l| l.contains("panicked")) {
                let msg = se.lines().skip_while(|x| !x.contains("panicked")).nth(1).unwrap_or("");
                let stage = if se.contains("STAGE") { " (in header.affine())" } else { "" };
                format!("PANIC{stage}: {} {}", l.trim(), msg.trim())
            } else if so.is_empty() {
                let af = se.lines().find(|l| l.contains("ALLOC-FAILED") || l.contains("memory allocation")).unwrap_or("");
                format!("KILLED/ABORT exit={code:?} {af}")
            } else {
                so
            };
            cells.push(cell.replace('|', "/"));
        }
        println!("| {i} | {name} ({} B) | {} | {} |", bytes.len(), cells[0], cells[1]);
    }
}

// ---------- feature checks ----------
fn try_<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    std::panic::catch_unwind(f).map_err(|e| {
        let m = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("PANIC: {m}")
    })
}

fn swap_fields(b: &mut [u8], fields: &[(usize, usize, usize)]) {
    for &(start, width, count) in fields {
        for n in 0..count {
            let o = start + n * width;
            b[o..o + width].reverse();
        }
    }
}
const V1_FIELDS: &[(usize, usize, usize)] = &[
    (0, 4, 1), (32, 4, 1), (36, 2, 1), (40, 2, 8), (56, 4, 3), (68, 2, 4), (76, 4, 11),
    (120, 2, 1), (124, 4, 4), (140, 4, 2), (252, 2, 2), (256, 4, 18),
];

fn features() {
    std::panic::set_hook(Box::new(|_| {}));
    let n = |b: Vec<u8>| try_(move || run_nifti(&b));
    let c = |b: Vec<u8>| try_(move || run_core(&b));
    let show = |what: &str, b: Vec<u8>| {
        println!("## {what}\n  core : {:?}\n  nifti: {:?}", c(b.clone()), n(b));
    };

    // NIfTI-2 read (core's writer emits v2 when the affine is not f32-exact)
    let aff = [[0.0, 0.0, -2.0, 90.1], [-1.0, 0.0, 0.0, 126.3], [0.0, 1.3, 0.0, -72.7], [0.0, 0.0, 0.0, 1.0]];
    let vol = Grid::new([5, 6, 7], [1.0, 1.3, 2.0], aff, (0..210).map(|i| i as f32).collect()).unwrap();
    let v2 = write_volume(None, &vol).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&v2[..]), &mut raw).unwrap();
    println!("(v2 file: sizeof_hdr={})", i32::from_le_bytes(raw[..4].try_into().unwrap()));
    show("NIfTI-2 .nii.gz written by core", v2);

    // big-endian NIfTI-1 int16 with slope 2 / inter 1
    let mut h = header([3, 2, 2], 4, 16);
    h.scl_slope = 2.0;
    h.scl_inter = 1.0;
    let mut b = encode_header(&h);
    swap_fields(&mut b, V1_FIELDS);
    for v in [-300i16, -1, 0, 1, 2, 3, 255, 256, 1000, -1000, 7, 32767] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    show("big-endian NIfTI-1 int16, slope 2 inter 1 (expect -599,-1,1,3)", b);

    // every datatype, slope 0.5 inter -3, raw values [0,1,7,100]
    for (code, bits) in [(2, 8), (256, 8), (4, 16), (512, 16), (8, 32), (768, 32), (1024, 64), (1280, 64), (16, 32), (64, 64)] {
        let mut h = header([4, 1, 1], code, bits);
        h.scl_slope = 0.5;
        h.scl_inter = -3.0;
        let bytes = bits as usize / 8;
        let data: Vec<u8> = [0f64, 1.0, 7.0, 100.0]
            .iter()
            .flat_map(|&v| match code {
                2 => vec![v as u8],
                256 => (v as i8).to_le_bytes().to_vec(),
                4 => (v as i16).to_le_bytes().to_vec(),
                512 => (v as u16).to_le_bytes().to_vec(),
                8 => (v as i32).to_le_bytes().to_vec(),
                768 => (v as u32).to_le_bytes().to_vec(),
                1024 => (v as i64).to_le_bytes().to_vec(),
                1280 => (v as u64).to_le_bytes().to_vec(),
                16 => (v as f32).to_le_bytes().to_vec(),
                _ => v.to_le_bytes().to_vec(),
            })
            .collect();
        assert_eq!(data.len(), 4 * bytes);
        let f = file(&h, &data);
        let (rc, rn) = (c(f.clone()), n(f));
        let short = |r: &Result<Result<String, String>, String>| match r {
            Ok(Ok(s)) => s.split(" affine").next().unwrap().to_string(),
            other => format!("{other:?}"),
        };
        println!("## datatype {code}: core {} | nifti {}", short(&rc), short(&rn));
    }
    // rgb24 to f32 and to [u8;3]
    let f = file(&header([2, 1, 1], 128, 24), &[1, 2, 3, 4, 5, 6]);
    show("rgb24 2x1x1 -> f32", f.clone());
    let r = try_(move || {
        nifti::InMemNiftiObject::from_reader(&f[..])
            .and_then(|o| o.into_volume().into_ndarray::<rgb::RGB8>())
            .map(|a| format!("{:?}", a.iter().collect::<Vec<_>>()))
            .map_err(|e| e.to_string())
    });
    println!("  nifti rgb24 -> RGB8: {r:?}");

    // 4-D: volume selection
    let mut h = header([2, 2, 1], 2, 8);
    h.dim = [4, 2, 2, 1, 3, 1, 1, 1];
    let f = file(&h, &(0..12).collect::<Vec<u8>>());
    let fc = f.clone();
    println!("## 4-D 2x2x1x3, want volume 2 = [8,9,10,11]");
    println!("  core default : {:?}", c(f.clone()));
    println!(
        "  core volume=Some(2): {:?}",
        read_nifti(&fc, &ReadOptions { volume: Some(2), ..Default::default() }).map(|i| i.volume.data)
    );
    let r = try_(move || {
        let a = nifti::InMemNiftiObject::from_reader(&f[..]).unwrap().into_volume().into_ndarray::<f32>().unwrap();
        let v = a.index_axis(ndarray_axis(3), 2).t().iter().cloned().collect::<Vec<f32>>();
        format!("full array shape {:?}; index_axis(3,2) -> {v:?}", a.shape())
    });
    println!("  nifti: {r:?}");

    // qform-only with qfac -1 and a 180 deg rotation (core test qform_used_when_no_sform)
    let mut h = header([2, 2, 2], 2, 8);
    h.sform_code = 0;
    h.qform_code = 1;
    h.quatern_d = 1.0;
    h.qoffset_x = 5.0;
    h.pixdim[0] = -1.0;
    show("qform only (want diag -1.5,-2,-2.5, x-offset 5)", file(&h, &[0; 8]));
    // no transform at all (method 1)
    h.qform_code = 0;
    show("no sform/qform (NIfTI method 1: diag 1.5,2,2.5, offset 0)", file(&h, &[0; 8]));
    // spatial unit metres
    let mut h = header([2, 2, 2], 2, 8);
    h.xyzt_units = 1;
    show("xyzt_units = metres, srow in metres (core scales to mm)", file(&h, &[0; 8]));

    // write: nifti writes only to paths; read its output back with core
    let dir = std::env::temp_dir().join("nifti-compare-w");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("w.nii.gz");
    let arr = ndarray::Array3::<f32>::from_shape_fn((5, 6, 7), |(i, j, k)| (i + 10 * j + 100 * k) as f32);
    let w = nifti::writer::WriterOptions::new(&p).write_nifti(&arr);
    let back = std::fs::read(&p).ok().map(|b| read_nifti(&b, &ReadOptions::default()).map(|i| (i.header.version, i.volume.dims, i.volume.data[1], i.volume.affine[0])));
    println!("## nifti WriterOptions::write_nifti(path) -> {w:?}; read by core: {back:?}");
    // the crate's own file reader on a 2-member .nii.gz
    let (_, okf) = ok_file();
    let mut z = gz(&okf[..200]);
    z.extend(gz(&okf[200..]));
    let p2 = dir.join("two.nii.gz");
    std::fs::write(&p2, &z).unwrap();
    let r = nifti::ReaderOptions::new().read_file(&p2).map(|o| o.volume().dim().to_vec()).map_err(|e| e.to_string());
    println!("## nifti ReaderOptions::read_file on 2-member .nii.gz: {r:?}; core: {:?}", read_nifti(&z, &ReadOptions::default()).map(|i| i.volume.dims));
}

fn ndarray_axis(i: usize) -> ndarray::Axis {
    ndarray::Axis(i)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(String::as_str) {
        Some("run") => child(&a[2], a[3].parse().unwrap()),
        Some("features") => features(),
        Some("list") => {
            for (i, (n, b)) in cases().iter().enumerate() {
                println!("{i}: {n} ({} B)", b.len());
            }
        }
        _ => parent(),
    }
}
