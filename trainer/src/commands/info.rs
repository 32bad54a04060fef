//! `brainfm info`: what a preset or a bundle is — parameters, FLOPs, configuration.

use std::path::Path;

use anyhow::Result;
use brainfm_core::model::{BrainNet, ModelConfig, Preset};
use burn::module::Module;
use burn::prelude::*;
use clap::Args;
use serde_json::json;

use crate::io::read_bundle;

/// Show parameters, FLOPs per patch and the configuration of a preset or model bundle.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A preset (tiny, small, base, resenc-l) or a model bundle file (.bfm).
    target: String,
    /// Add a segmentation decoder with this many classes to a preset.
    #[arg(long)]
    classes: Option<usize>,
    /// Patch edge (voxels) for the FLOP count; defaults to the preset's or bundle's patch.
    #[arg(long)]
    patch: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let (config, patch, meta) = match Preset::parse(&args.target) {
        Ok(preset) => (
            preset.config(args.classes),
            [preset.default_patch(); 3],
            None,
        ),
        Err(unknown) => {
            let path = Path::new(&args.target);
            if !path.exists() {
                anyhow::bail!(
                    "{unknown}, and no bundle file named {} exists",
                    path.display()
                );
            }
            let bundle = read_bundle(path)?;
            let patch = bundle.meta().patch_size;
            (bundle.config().clone(), patch, Some(bundle.meta().clone()))
        }
    };
    let patch = args.patch.map(|p| [p; 3]).unwrap_or(patch);
    let model = config.init(&Device::flex())?;
    let report = Report::new(&config, &model, patch);
    if args.json {
        let value = json!({
            "preset": config.preset,
            "parameters": report.parts.iter().map(|(k, v)| (k.to_string(), *v)).collect::<std::collections::BTreeMap<_, _>>(),
            "total_parameters": report.total,
            "patch": patch,
            "macs": report.cost,
            "gflops_forward": report.gflops,
            "stride": config.stride(),
            "config": config,
            "meta": meta,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("model            {}", config.preset);
    println!(
        "parameters       {:.2} M ({})",
        report.total as f64 / 1e6,
        report.total
    );
    for (part, n) in &report.parts {
        if *n > 0 {
            println!("  {part:<15}{:.3} M", *n as f64 / 1e6);
        }
    }
    println!(
        "encoder          {:?} filters, {:?} units per level{}",
        config.encoder.widths,
        config.encoder.units,
        if config.encoder.residual {
            ", residual"
        } else {
            ""
        }
    );
    if let Some(l) = &config.latent {
        println!(
            "latent split     z_s {} ch, z_m {} ch",
            l.subject_channels, l.modality_channels
        );
    }
    if let Some(c) = config.seg_classes() {
        println!("dense output     {c} channel(s)");
    }
    println!(
        "input stride     {} (inputs are padded to a multiple)",
        config.stride()
    );
    println!("patch            {}x{}x{}", patch[0], patch[1], patch[2]);
    println!(
        "forward FLOPs    {:.1} GFLOP per patch (all parts; 2 x {} MACs)",
        report.gflops,
        report.cost.total_macs()
    );
    if report.cost.seg > 0 {
        println!(
            "  segmentation   {:.1} GFLOP per patch",
            report.cost.segmentation_flops() as f64 / 1e9
        );
    }
    if let Some(meta) = meta {
        println!("task             {:?}", meta.task);
        if !meta.class_names.is_empty() {
            println!("classes          {}", meta.class_names.join(", "));
        }
        println!("spacing          {:?} mm", meta.preprocess.target_spacing);
        if let Some(r) = meta.postprocess.largest_component_mm {
            println!("postprocess      keep the largest component (opening {r} mm)");
        }
        println!("provenance       {}", meta.provenance);
        println!("written by       {}", meta.created_by);
    }
    Ok(())
}

struct Report {
    parts: Vec<(&'static str, usize)>,
    total: usize,
    cost: brainfm_core::model::CostReport,
    gflops: f64,
}

impl Report {
    fn new(_config: &ModelConfig, model: &BrainNet, patch: [usize; 3]) -> Self {
        let parts = vec![
            ("encoder", model.encoder.num_params()),
            (
                "latent split",
                model.latent.as_ref().map_or(0, |m| m.num_params()),
            ),
            (
                "recon decoder",
                model.recon.as_ref().map_or(0, |m| m.num_params()),
            ),
            (
                "dense decoder",
                model.seg.as_ref().map_or(0, |m| m.num_params()),
            ),
            (
                "global head",
                model.head.as_ref().map_or(0, |m| m.num_params()),
            ),
        ];
        let cost = model.cost(patch);
        Self {
            total: model.num_params(),
            parts,
            cost,
            gflops: 2.0 * cost.total_macs() as f64 / 1e9,
        }
    }
}
