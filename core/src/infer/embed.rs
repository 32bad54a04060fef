//! Whole-scan embeddings: what the encoder makes of a scan, as vectors a probe can read.
//! The scan is preprocessed as in training and tiled like a whole-scan prediction; each
//! patch's maps are averaged over space, then over the patches. With a latent split
//! (pre-trained bundles) that gives the subject latent z_s and the contrast latent z_m
//! (their posterior means); every model gives its deepest encoder level ("deep").

use burn::prelude::*;

use super::readback::read_f32;
use super::tiles::{cut_batch, tile_scan};
use super::InferError;
use crate::bundle::BundleMeta;
use crate::model::{BrainNet, ModelConfig};
use crate::volume::Volume;

/// Patches per forward pass.
const BATCH: usize = 2;

#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    /// Mean of z_s's posterior mean; `None` without a latent split.
    pub subject: Option<Vec<f64>>,
    /// Mean of z_m's posterior mean; `None` without a latent split.
    pub modality: Option<Vec<f64>>,
    /// Mean of the deepest encoder level's channels.
    pub deep: Vec<f64>,
    /// Patches averaged.
    pub patches: usize,
}

impl Embedding {
    /// The parts present, by name: `zs`, `zm`, `deep`.
    pub fn parts(&self) -> Vec<(&'static str, &[f64])> {
        let mut parts = Vec::new();
        if let Some(s) = &self.subject {
            parts.push(("zs", &s[..]));
        }
        if let Some(m) = &self.modality {
            parts.push(("zm", &m[..]));
        }
        parts.push(("deep", &self.deep[..]));
        parts
    }
}

/// Embed one scan. `patch` is in tensor order `[z, y, x]`.
pub async fn embed_volume(
    model: &BrainNet,
    config: &ModelConfig,
    meta: &BundleMeta,
    input: &Volume,
    patch: [usize; 3],
    device: &Device,
) -> Result<Embedding, InferError> {
    let grid = tile_scan(config, meta, input, patch)?;
    let windows = &grid.windows;
    let mut sums: Vec<Vec<f64>> = Vec::new();
    for batch in windows.chunks(BATCH) {
        let x = cut_batch(&grid.data, grid.size, patch, batch, device);
        let rep = model.represent(x);
        let mut maps = Vec::new();
        if let Some(l) = &rep.latents {
            maps.push(l.subject_mean.clone());
            maps.push(l.modality_mean.clone());
        }
        maps.push(rep.levels.last().expect("an encoder level").clone());
        sums.resize(maps.len(), Vec::new());
        for (sum, map) in sums.iter_mut().zip(maps) {
            let [b, c, d, h, w] = map.dims();
            let pooled = map.reshape([b, c, d * h * w]);
            let rows = read_f32(pooled.mean_dim(2).reshape([b, c])).await?;
            sum.resize(c, 0.0);
            for row in rows.chunks(c) {
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += *v as f64;
                }
            }
        }
    }
    let n = windows.len() as f64;
    let mut means: Vec<Vec<f64>> = sums
        .into_iter()
        .map(|s| s.into_iter().map(|v| v / n).collect())
        .collect();
    let deep = means.pop().unwrap_or_default();
    let (subject, modality) = match means.len() {
        2 => (means.first().cloned(), means.get(1).cloned()),
        _ => (None, None),
    };
    Ok(Embedding {
        subject,
        modality,
        deep,
        patches: windows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Task;
    use crate::model::Preset;
    use crate::volume::{affine, preprocess};

    fn meta() -> BundleMeta {
        crate::infer::tiles::test_meta(Task::Pretrained)
    }

    fn mean_channels(t: Tensor<5>) -> Vec<f64> {
        let [b, c, d, h, w] = t.dims();
        assert_eq!(b, 1);
        t.reshape([c, d * h * w])
            .mean_dim(1)
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .unwrap()
    }

    /// The embedding is the mean over a covering tiling of each window's spatial means,
    /// checked against windows sliced out of the preprocessed grid one at a time.
    #[test]
    fn embedding_averages_every_window_of_the_grid() {
        let dev = Device::flex();
        let config = Preset::Tiny.config(None);
        let model = config.init(&dev).unwrap();
        let data: Vec<f32> = (0..40 * 24 * 20)
            .map(|i| 1.0 + ((i * 13) % 17) as f32)
            .collect();
        let vol = Volume::new([40, 24, 20], [1.0; 3], affine::IDENTITY, data).unwrap();
        let e = pollster::block_on(embed_volume(&model, &config, &meta(), &vol, [16; 3], &dev))
            .unwrap();
        assert_eq!(e.patches, 12);
        let (zs, zm) = (e.subject.clone().unwrap(), e.modality.clone().unwrap());
        assert_eq!((zs.len(), zm.len(), e.deep.len()), (16, 16, 40));
        assert_eq!(
            e.parts().iter().map(|p| p.0).collect::<Vec<_>>(),
            ["zs", "zm", "deep"]
        );

        let pre = preprocess(&vol, &meta().preprocess).unwrap();
        let [x, y, z] = pre.volume.dims;
        assert_eq!([z, y, x], [32, 32, 48]);
        let grid =
            Tensor::<3>::from_data(TensorData::new(pre.volume.data.clone(), [z, y, x]), &dev);
        let mut expect = [vec![0f64; 16], vec![0f64; 16], vec![0f64; 40]];
        for z0 in [0, 16] {
            for y0 in [0, 16] {
                for x0 in [0, 16, 32] {
                    let w = grid
                        .clone()
                        .slice([z0..z0 + 16, y0..y0 + 16, x0..x0 + 16])
                        .reshape([1, 1, 16, 16, 16]);
                    let rep = model.represent(w);
                    let l = rep.latents.clone().unwrap();
                    let maps = [l.subject_mean, l.modality_mean, rep.levels[3].clone()];
                    for (sum, map) in expect.iter_mut().zip(maps) {
                        for (s, v) in sum.iter_mut().zip(mean_channels(map)) {
                            *s += v / 12.0;
                        }
                    }
                }
            }
        }
        for (got, want) in [zs, zm, e.deep.clone()].iter().zip(&expect) {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
            }
        }
        // The image matters.
        let other = vol
            .with_data(vol.data.iter().map(|v| v * v).collect())
            .unwrap();
        let f = pollster::block_on(embed_volume(
            &model,
            &config,
            &meta(),
            &other,
            [16; 3],
            &dev,
        ))
        .unwrap();
        assert_ne!(f.deep, e.deep);
    }

    #[test]
    fn encoders_without_a_latent_split_give_deep_features_and_bad_patches_are_refused() {
        let dev = Device::flex();
        let mut config = Preset::Tiny.config(None);
        config.latent = None;
        config.recon = None;
        let model = config.init(&dev).unwrap();
        let vol = Volume::new([10, 12, 9], [1.0; 3], affine::IDENTITY, vec![1.0; 1080]).unwrap();
        let e = pollster::block_on(embed_volume(&model, &config, &meta(), &vol, [16; 3], &dev))
            .unwrap();
        assert_eq!(
            (e.subject, e.modality, e.deep.len(), e.patches),
            (None, None, 40, 1)
        );
        assert!(
            pollster::block_on(embed_volume(&model, &config, &meta(), &vol, [12; 3], &dev))
                .is_err()
        );
    }
}
