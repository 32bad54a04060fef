//! The one protocol between the page and the compute worker: every message either way is a
//! variant of `Request` (page -> worker) or `Reply` (worker -> page), encoded as CBOR into
//! one transferred byte buffer (`wire`), so neither side spells a field name as a string.
//!
//! The scan crosses once per load, already decoded by the page; a model bundle crosses
//! once per load and the worker parses it and puts it on its device once. Bulk arrays
//! (voxels, labels, pictures) travel as little-endian bytes rather than CBOR arrays,
//! which would cost a tag per element.

use brainfm_core::volume::{NiftiHeader, NiftiImage, Volume, VolumeError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Page -> worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// The first message, after the worker's `Hello`: pick the device.
    Init { cpu_only: bool },
    /// The scan the page opened (the worker keeps it until the next one).
    Scan(Box<ScanImage>),
    /// A model bundle for `slot`; the worker answers `ModelLoaded` or `ModelFailed`.
    Model {
        slot: Slot,
        name: String,
        bytes: Bytes,
    },
    /// Segment the kept scan with the kept segmentation model.
    Segment,
    /// Fine-tune the kept segmentation model on the given pairs.
    Train(Box<TrainRequest>),
    /// Handled at once, even while a fine-tuning run holds the worker.
    TrainControl(TrainControl),
    /// A teaching view of the kept scan with the kept teaching model.
    Teach(TeachRequest),
}

/// Worker -> page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// The worker's handler is installed; requests may follow.
    Hello,
    Ready {
        backend: BackendId,
        text: String,
        budget: u64,
        /// The device as a bug report needs it: (what, value) pairs such as the adapter,
        /// its limits and why WebGPU was not used.
        facts: Vec<(String, String)>,
    },
    ModelLoaded {
        slot: Slot,
        info: ModelInfo,
    },
    ModelFailed {
        slot: Slot,
        message: String,
    },
    Progress {
        stage: String,
        done: usize,
        total: usize,
    },
    Segmented(Box<Segmentation>),
    SegmentFailed(String),
    TrainPlan {
        text: String,
    },
    TrainStep(TrainStep),
    TrainVal {
        step: usize,
        dice: f64,
    },
    Trained {
        bundle: Bytes,
        steps: usize,
        stopped: bool,
        name: String,
    },
    TrainFailed(String),
    Taught {
        view: TeachView,
        images: Vec<Picture>,
        stats: Vec<(String, f64)>,
    },
    TeachFailed {
        view: TeachView,
        message: String,
    },
    /// A failure not tied to a request (an undecodable message, a worker that could not start).
    Failed(String),
    /// The worker's WebGPU device was lost (`GPUDevice.lost`: `reason` and `message` of its
    /// GPUDeviceLostInfo). www/static/worker.js watches every device and posts this as a
    /// plain object, so that it arrives even when the WebAssembly has trapped; page/bridge.rs
    /// makes it this variant.
    DeviceLost {
        reason: String,
        message: String,
    },
}

impl Reply {
    /// What a `DeviceLost` says, for the page's status lines ("Device was destroyed.").
    pub fn lost_text(reason: &str, message: &str) -> String {
        match (reason.trim(), message.trim()) {
            ("", "") => "no reason given".into(),
            (reason, "") => reason.into(),
            ("" | "unknown", message) => message.into(),
            (reason, message) => format!("{message} [{reason}]"),
        }
    }
}

/// Which kept model a `Model` request replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slot {
    /// Segments, and is where fine-tuning starts: it must have a segmentation head.
    Segmentation,
    /// The pre-trained model of the teaching views (latent split + reconstruction decoder).
    Teaching,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendId {
    WebGpu,
    Cpu,
    /// No device: the worker could not start or its probe failed.
    None,
}

impl BackendId {
    /// The id the page puts in `data-backend` attributes (the browser tests read it).
    pub fn id(self) -> &'static str {
        match self {
            BackendId::WebGpu => "webgpu",
            BackendId::Cpu => "cpu",
            BackendId::None => "none",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendId::WebGpu => "WebGPU",
            BackendId::Cpu => "the CPU (WASM)",
            BackendId::None => "no device",
        }
    }
}

/// A decoded scan: what `read_nifti` returned on the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanImage {
    pub header: NiftiHeader,
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    pub affine: [[f64; 4]; 4],
    pub data: F32s,
}

impl ScanImage {
    pub fn from_image(image: NiftiImage) -> Self {
        let v = image.volume;
        ScanImage {
            header: image.header,
            dims: v.dims,
            spacing: v.spacing,
            affine: v.affine,
            data: F32s(v.data),
        }
    }

    /// Back into an image, with the grid checks of `Volume::new`.
    pub fn into_image(self) -> Result<NiftiImage, VolumeError> {
        let volume = Volume::new(self.dims, self.spacing, self.affine, self.data.0)?;
        Ok(NiftiImage {
            header: self.header,
            volume,
        })
    }
}

/// What the page shows about a loaded segmentation model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// The architecture preset (tiny, small, base, ...).
    pub preset: String,
    /// The file name the page gave.
    pub file: String,
    pub classes: Vec<String>,
    pub patch: [usize; 3],
    pub spacing: [f64; 3],
    pub provenance: String,
    pub size: usize,
    /// Parsing the bundle and putting it on the device, in the worker.
    pub load_ms: f64,
}

/// A finished segmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    pub backend: BackendId,
    pub model_name: String,
    pub inference_ms: f64,
    pub plan: String,
    pub largest_activation: u64,
    /// Labels on the input grid, x fastest.
    pub labels: U16s,
    pub volumes_ml: Vec<f64>,
    pub names: Vec<String>,
    /// The segmentation as .nii.gz bytes on the input grid (core's `write_labels`).
    pub nifti: Bytes,
}

/// An (image, label map) pair of NIfTI files, as the user picked them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub image: Bytes,
    pub label: Bytes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRequest {
    pub pairs: Vec<Pair>,
    pub val: Option<Pair>,
    pub steps: u64,
    /// `decoder`, `last:N` or `all` (core's `Trainable::parse`).
    pub trainable: String,
    pub lr: f64,
    pub new_head: bool,
    pub class_names: Vec<String>,
    /// Patch edge; `None`: the largest that fits.
    pub patch: Option<usize>,
    pub augment: bool,
    pub seed: u64,
    /// Validate every this many steps; `None`: four times per run.
    pub val_every: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrainControl {
    Pause,
    Resume,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainStep {
    pub step: usize,
    pub total: usize,
    pub loss: f64,
    pub dice: f64,
    pub steps_per_sec: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TeachView {
    /// What the model fills in under a block mask.
    Mask,
    /// One subject's anatomy rendered in another scan's contrast.
    Swap,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeachRequest {
    pub view: TeachView,
    /// A label map on the scan's grid (NIfTI bytes), for `Swap`.
    pub labels: Option<Bytes>,
    pub centre_mm: [f64; 3],
    pub ratio: f64,
    pub block: usize,
    pub seed: u64,
}

/// One picture of a teaching view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Picture {
    pub key: String,
    pub width: usize,
    pub height: usize,
    pub data: F32s,
}

/// Opaque bytes (files, bundles), as one CBOR byte string.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bytes(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

/// Generates a newtype over `Vec<$t>` that travels as its little-endian bytes.
macro_rules! le_array {
    ($name:ident, $t:ty, $size:expr) => {
        #[derive(Clone, Default, PartialEq)]
        pub struct $name(pub Vec<$t>);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({} values)", stringify!($name), self.0.len())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut bytes = Vec::with_capacity(self.0.len() * $size);
                for v in &self.0 {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                s.serialize_bytes(&bytes)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let bytes = serde_bytes::ByteBuf::deserialize(d)?;
                if bytes.len() % $size != 0 {
                    return Err(serde::de::Error::custom(format!(
                        "{} bytes are not a whole number of {}",
                        bytes.len(),
                        stringify!($t)
                    )));
                }
                Ok($name(
                    bytes
                        .chunks_exact($size)
                        .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk of $size")))
                        .collect(),
                ))
            }
        }
    };
}

le_array!(F32s, f32, 4);
le_array!(U16s, u16, 2);

/// Encoding to and decoding from the bytes that cross the worker boundary.
pub mod wire {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(message, &mut out).expect("writing CBOR to a Vec cannot fail");
        out
    }

    pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        ciborium::from_reader(bytes).map_err(|e| format!("undecodable message ({e})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainfm_core::volume::{header_from_grid, read_nifti, write_labels, LabelMap, ReadOptions};

    fn image() -> NiftiImage {
        let labels = LabelMap::new(
            [3, 2, 2],
            [1.0, 1.5, 2.0],
            [
                [-1.0, 0.0, 0.0, 10.0],
                [0.0, 1.5, 0.0, -5.0],
                [0.0, 0.0, 2.0, 3.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            (0..12).collect(),
        )
        .unwrap();
        let bytes = write_labels(&header_from_grid(&labels), &labels).unwrap();
        read_nifti(&bytes, &ReadOptions::default()).unwrap()
    }

    #[test]
    fn a_scan_crosses_the_boundary_unchanged() {
        let image = image();
        let request = Request::Scan(Box::new(ScanImage::from_image(image.clone())));
        let back: Request = wire::decode(&wire::encode(&request)).unwrap();
        assert_eq!(back, request);
        let Request::Scan(scan) = back else {
            unreachable!()
        };
        let round = scan.into_image().unwrap();
        assert_eq!(round.volume, image.volume);
        assert_eq!(round.header, image.header);
    }

    #[test]
    fn bulk_arrays_travel_as_bytes_not_per_element() {
        let n = 10_000;
        let reply = Reply::Taught {
            view: TeachView::Mask,
            images: vec![Picture {
                key: "original".into(),
                width: 100,
                height: 100,
                data: F32s((0..n).map(|i| i as f32 * 0.25 - 7.0).collect()),
            }],
            stats: vec![("maskedError".into(), 0.125)],
        };
        let bytes = wire::encode(&reply);
        // 4 bytes a value plus a small envelope; per-element CBOR floats would be 5 or 9.
        assert!(bytes.len() < n * 4 + 200, "{} bytes", bytes.len());
        assert_eq!(wire::decode::<Reply>(&bytes).unwrap(), reply);
        let labels = U16s(vec![0, 1, 65535, 3]);
        let seg = wire::encode(&labels);
        assert_eq!(wire::decode::<U16s>(&seg).unwrap(), labels);
    }

    #[test]
    fn a_lost_device_is_described_by_its_message_and_reason() {
        assert_eq!(
            Reply::lost_text("destroyed", "Device was destroyed."),
            "Device was destroyed. [destroyed]"
        );
        assert_eq!(Reply::lost_text("unknown", "GPU reset"), "GPU reset");
        assert_eq!(Reply::lost_text("destroyed", " "), "destroyed");
        assert_eq!(Reply::lost_text("", ""), "no reason given");
        let lost = Reply::DeviceLost {
            reason: "unknown".into(),
            message: "GPU reset".into(),
        };
        assert_eq!(wire::decode::<Reply>(&wire::encode(&lost)).unwrap(), lost);
    }

    #[test]
    fn a_truncated_or_foreign_message_is_an_error_not_a_panic() {
        let bytes = wire::encode(&Request::Train(Box::new(TrainRequest {
            pairs: vec![Pair {
                image: Bytes(vec![1, 2, 3]),
                label: Bytes(vec![4]),
            }],
            val: None,
            steps: 5,
            trainable: "decoder".into(),
            lr: 1e-3,
            new_head: false,
            class_names: vec!["background".into()],
            patch: None,
            augment: false,
            seed: 0,
            val_every: None,
        })));
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                wire::decode::<Request>(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(wire::decode::<Request>(b"{\"type\":\"run\"}").is_err());
        // Odd byte counts cannot be u16 labels.
        let odd = wire::encode(&Bytes(vec![1, 2, 3]));
        assert!(wire::decode::<U16s>(&odd).is_err());
    }
}
