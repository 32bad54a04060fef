//! Whole-scan classification and regression: preprocess as in training, tile the network
//! grid with patches, run the global head on every patch and aggregate as the FOMO25
//! winners do — the mean of the patches' log-softmax for classes, the median of the
//! patches' values for regression. Async readback only, so the browser can run it.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use super::readback::read_f32;
use super::tiles::{cut_batch, tile_scan};
use super::InferError;
use crate::bundle::{BundleMeta, Task};
use crate::model::{BrainNet, ModelConfig, ModelError};
use crate::volume::Volume;

/// Patches per forward pass.
const BATCH: usize = 2;

#[derive(Clone, Debug, PartialEq)]
pub enum GlobalOutput {
    Class {
        /// argmax of `log_probabilities`.
        index: usize,
        /// Mean over patches of each class's log-softmax.
        log_probabilities: Vec<f64>,
        /// `softmax(log_probabilities)`: sums to one.
        probabilities: Vec<f64>,
    },
    Value(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct GlobalPrediction {
    pub output: GlobalOutput,
    /// Patches the prediction aggregates.
    pub patches: usize,
    /// Dimensions of the network's grid.
    pub processed_dims: [usize; 3],
}

/// Mean log-softmax rows -> (argmax, normalised probabilities).
pub fn aggregate_log_probabilities(rows: &[Vec<f64>]) -> (usize, Vec<f64>, Vec<f64>) {
    let k = rows.first().map_or(0, Vec::len);
    let mut mean = vec![0f64; k];
    for r in rows {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v / rows.len() as f64;
        }
    }
    let max = mean.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = mean.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    let index = mean
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    (index, mean, exp.into_iter().map(|e| e / sum).collect())
}

/// Median (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Classify or regress one scan. `patch` is in tensor order `[z, y, x]`, like
/// [`super::InferenceConfig::patch`]; windows tile the network grid without gaps
/// (evenly spread, as in sliding-window segmentation, but without extra overlap).
pub async fn predict_global_volume(
    model: &BrainNet,
    config: &ModelConfig,
    meta: &BundleMeta,
    input: &Volume,
    patch: [usize; 3],
    device: &Device,
) -> Result<GlobalPrediction, InferError> {
    let outputs = config
        .head
        .as_ref()
        .ok_or(ModelError::MissingPart("classification/regression head"))?
        .outputs;
    let classify = match meta.task {
        Task::Classification => true,
        Task::Regression => false,
        other => {
            return Err(InferError::InvalidConfig(format!(
                "a {other:?} model has no whole-scan prediction"
            )))
        }
    };
    let grid = tile_scan(config, meta, input, patch)?;
    let windows = &grid.windows;
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(windows.len());
    for batch in windows.chunks(BATCH) {
        let x = cut_batch(&grid.data, grid.size, patch, batch, device);
        let mut y = model.predict_global(x)?;
        if classify {
            y = log_softmax(y, 1);
        }
        let values = read_f32(y).await?;
        rows.extend(
            values
                .chunks(outputs)
                .map(|r| r.iter().map(|&v| v as f64).collect()),
        );
    }
    let output = if classify {
        let (index, log_probabilities, probabilities) = aggregate_log_probabilities(&rows);
        GlobalOutput::Class {
            index,
            log_probabilities,
            probabilities,
        }
    } else {
        let values: Vec<f64> = rows.iter().map(|r| r[0]).collect();
        GlobalOutput::Value(median(&values).unwrap_or(f64::NAN))
    };
    Ok(GlobalPrediction {
        output,
        patches: windows.len(),
        processed_dims: grid.dims,
    })
}

#[cfg(test)]
mod tests {
    use burn::module::Module;

    use super::*;
    use crate::model::Preset;
    use crate::volume::affine;

    #[test]
    fn median_and_mean_log_softmax_by_hand() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 100.0]), Some(3.0));
        assert_eq!(median(&[]), None);
        // Patches saying [0.5, 0.5] and [0.1, 0.9]: mean log p = [ln 0.05 / 2, ln 0.45 / 2],
        // so p ∝ [sqrt(0.05), sqrt(0.45)] = [0.25, 0.75] after normalising.
        let rows = vec![
            vec![0.5f64.ln(), 0.5f64.ln()],
            vec![0.1f64.ln(), 0.9f64.ln()],
        ];
        let (index, mean, p) = aggregate_log_probabilities(&rows);
        assert_eq!(index, 1);
        assert!((mean[0] - 0.05f64.ln() / 2.0).abs() < 1e-12);
        assert!((p[0] - 0.25).abs() < 1e-12 && (p[1] - 0.75).abs() < 1e-12);
    }

    /// A head whose output ignores the image (zero weights): every patch says `bias`.
    fn constant_model(outputs: usize, bias: Vec<f32>, dev: &Device) -> (BrainNet, ModelConfig) {
        let config = Preset::Tiny.config(None).with_global_head(outputs);
        let mut model = config.init(dev).unwrap();
        let head = model.head.as_mut().unwrap();
        head.output.weight = head.output.weight.clone().map(|w| w.zeros_like());
        let b = Tensor::<1>::from_data(TensorData::new(bias, [outputs]), dev);
        head.output.bias = head.output.bias.clone().map(|p| p.map(|_| b));
        (model.no_grad(), config)
    }

    fn meta(task: Task) -> BundleMeta {
        crate::infer::tiles::test_meta(task)
    }

    #[test]
    fn constant_patches_aggregate_to_their_value_over_a_covering_tiling() {
        let dev = Device::flex();
        // 40 x 24 x 20 voxels of 1 mm, all foreground: the network grid is padded to
        // 48 x 32 x 32, tiled by 3 x 2 x 2 windows of 16.
        let data: Vec<f32> = (0..40 * 24 * 20).map(|i| 1.0 + (i % 7) as f32).collect();
        let vol = Volume::new([40, 24, 20], [1.0; 3], affine::IDENTITY, data).unwrap();
        let (model, config) = constant_model(2, vec![0.0, 3f32.ln()], &dev);
        let p = pollster::block_on(predict_global_volume(
            &model,
            &config,
            &meta(Task::Classification),
            &vol,
            [16; 3],
            &dev,
        ))
        .unwrap();
        assert_eq!((p.processed_dims, p.patches), ([48, 32, 32], 12));
        let GlobalOutput::Class {
            index,
            probabilities,
            ..
        } = p.output
        else {
            panic!("expected a class")
        };
        assert_eq!(index, 1);
        assert!((probabilities[1] - 0.75).abs() < 1e-5, "{probabilities:?}");

        let (model, config) = constant_model(1, vec![42.5], &dev);
        let p = pollster::block_on(predict_global_volume(
            &model,
            &config,
            &meta(Task::Regression),
            &vol,
            [16; 3],
            &dev,
        ))
        .unwrap();
        match p.output {
            GlobalOutput::Value(v) => assert!((v - 42.5).abs() < 1e-4, "{v}"),
            other => panic!("{other:?}"),
        }
        // A segmentation bundle or a bad patch is refused.
        let err = |m: &BundleMeta, patch| {
            pollster::block_on(predict_global_volume(&model, &config, m, &vol, patch, &dev))
                .is_err()
        };
        assert!(err(&meta(Task::Segmentation), [16; 3]));
        assert!(err(&meta(Task::Regression), [12; 3]));
    }

    /// The patch order and the zero padding: a grid smaller than the patch still works,
    /// and the model sees the image (a real head gives different outputs for different
    /// scans).
    #[test]
    fn small_grids_are_padded_and_the_image_matters() {
        let dev = Device::flex();
        let config = Preset::Tiny.config(None).with_global_head(1);
        let model = config.init(&dev).unwrap();
        let run = |data: Vec<f32>| {
            let vol = Volume::new([10, 12, 9], [1.0; 3], affine::IDENTITY, data).unwrap();
            let p = pollster::block_on(predict_global_volume(
                &model,
                &config,
                &meta(Task::Regression),
                &vol,
                [32; 3],
                &dev,
            ))
            .unwrap();
            assert_eq!(p.patches, 1);
            match p.output {
                GlobalOutput::Value(v) => v,
                other => panic!("{other:?}"),
            }
        };
        let a = run((0..1080).map(|i| 1.0 + (i % 5) as f32).collect());
        let b = run((0..1080).map(|i| 1.0 + ((i * 7) % 11) as f32).collect());
        assert!(a.is_finite() && b.is_finite() && a != b, "{a} {b}");
    }
}
