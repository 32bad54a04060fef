//! The geometry of one 3D convolution as the CPU kernels see it, and its polyphase view.
//!
//! A strided convolution over a zero-padded input is rewritten as a stride-1 one over
//! `stride^3` "phases" of that input (phase `(a, b, c)` holds the padded voxels whose
//! coordinates are `a, b, c` modulo the stride). Each kernel tap then reads one phase at a
//! constant offset, so every tap's input for a run of output voxels along W is one
//! contiguous slice: gathering it is a `memcpy`, never an index computation per element.

/// A 3D convolution with dilation 1 and one group, over `[batch, channels, D, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub input: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    /// Zero padding before the first voxel of each axis (padding after only changes `output`).
    pub pad_begin: [usize; 3],
    pub output: [usize; 3],
}

impl ConvShape {
    /// `None` when the convolution has nothing to compute (an empty axis or a kernel larger
    /// than the padded input) or a zero stride: callers fall back to burn's own kernel.
    pub fn new(
        batch: usize,
        c_in: usize,
        c_out: usize,
        input: [usize; 3],
        kernel: [usize; 3],
        stride: [usize; 3],
        padding: [(usize, usize); 3],
    ) -> Option<Self> {
        let mut output = [0; 3];
        for i in 0..3 {
            let span = input[i] + padding[i].0 + padding[i].1;
            if stride[i] == 0 || kernel[i] == 0 || span < kernel[i] || input[i] == 0 {
                return None;
            }
            output[i] = (span - kernel[i]) / stride[i] + 1;
        }
        if batch == 0 || c_in == 0 || c_out == 0 {
            return None;
        }
        Some(Self {
            batch,
            c_in,
            c_out,
            input,
            kernel,
            stride,
            pad_begin: padding.map(|p| p.0),
            output,
        })
    }

    pub fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    pub fn input_voxels(&self) -> usize {
        self.input.iter().product()
    }

    pub fn output_voxels(&self) -> usize {
        self.output.iter().product()
    }

    /// Output rows: one row is the run of `output[2]` voxels along W at fixed (d, h).
    pub fn output_rows(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// A 1x1x1 stride-1 unpadded convolution reads the input as it is: no phases needed.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1, 1] && self.stride == [1, 1, 1] && self.pad_begin == [0, 0, 0]
    }

    /// Phases per axis: only residues that some tap reads.
    pub fn phase_counts(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.stride[i].min(self.kernel[i]))
    }

    pub fn phases(&self) -> usize {
        self.phase_counts().iter().product()
    }

    /// Extent of each phase: every output voxel plus the largest tap offset.
    pub fn phase_dims(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.output[i] + self.max_offset()[i])
    }

    pub fn phase_voxels(&self) -> usize {
        self.phase_dims().iter().product()
    }

    /// Floats of one batch item's polyphase copy: `[phase][c_in][P0][P1][P2]`.
    pub fn phase_item_len(&self) -> usize {
        self.phases() * self.c_in * self.phase_voxels()
    }

    /// Largest tap offset inside a phase, per axis.
    pub fn max_offset(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| (self.kernel[i] - 1) / self.stride[i])
    }

    /// Tap `t` (row-major over the kernel, as burn stores weights): its phase and offset.
    pub fn tap(&self, t: usize) -> Tap {
        let [_, k1, k2] = self.kernel;
        let k = [t / (k1 * k2), (t / k2) % k1, t % k2];
        let [_, n1, n2] = self.phase_counts();
        let residue = [0, 1, 2].map(|i| k[i] % self.stride[i]);
        Tap {
            phase: (residue[0] * n1 + residue[1]) * n2 + residue[2],
            offset: [0, 1, 2].map(|i| k[i] / self.stride[i]),
        }
    }

    /// The run `lo..lo + len` of phase indices along `axis`, in a phase with `residue` there,
    /// whose input coordinates ([`Self::input_coord`]) lie inside the input; the rest of the
    /// phase is padding.
    pub fn phase_run(&self, axis: usize, residue: usize) -> (usize, usize) {
        let (stride, pad) = (self.stride[axis], self.pad_begin[axis]);
        let lo = pad.saturating_sub(residue).div_ceil(stride);
        let hi = match (self.input[axis] - 1 + pad).checked_sub(residue) {
            Some(top) => (top / stride + 1).min(self.phase_dims()[axis]),
            None => 0,
        };
        (lo.min(hi), hi.saturating_sub(lo))
    }

    /// The input coordinate of phase index `i` along `axis` (an index inside
    /// [`Self::phase_run`]).
    pub fn input_coord(&self, axis: usize, residue: usize, i: usize) -> usize {
        self.stride[axis] * i + residue - self.pad_begin[axis]
    }

    /// The residue of each axis that phase `p` holds.
    pub fn phase_residue(&self, p: usize) -> [usize; 3] {
        let [_, n1, n2] = self.phase_counts();
        [p / (n1 * n2), (p / n2) % n1, p % n2]
    }
}

/// Where one kernel tap reads: which phase, at which offset from the output voxel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tap {
    pub phase: usize,
    pub offset: [usize; 3],
}
