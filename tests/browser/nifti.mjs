// Minimal NIfTI-1/2 header reader for the tests (dims, datatype, sform/qform affine) and
// voxel access for uint8/int16/uint16 data. Test-only: the app itself uses brainfm-core.
import { gunzipSync } from "node:zlib";

export function readNifti(buf) {
  let b = Buffer.from(buf);
  if (b[0] === 0x1f && b[1] === 0x8b) b = gunzipSync(b);
  const size = b.readInt32LE(0);
  let h;
  if (size === 348) {
    const dim = [...Array(8)].map((_, i) => b.readInt16LE(40 + 2 * i));
    const pixdim = [...Array(8)].map((_, i) => b.readFloatLE(76 + 4 * i));
    const srow = [...Array(12)].map((_, i) => b.readFloatLE(280 + 4 * i));
    h = {
      version: 1,
      dim,
      datatype: b.readInt16LE(70),
      pixdim,
      voxOffset: b.readFloatLE(108),
      qformCode: b.readInt16LE(252),
      sformCode: b.readInt16LE(254),
      srow,
      quatern: [b.readFloatLE(256), b.readFloatLE(260), b.readFloatLE(264)],
      qoffset: [b.readFloatLE(268), b.readFloatLE(272), b.readFloatLE(276)],
      intentCode: b.readInt16LE(68),
    };
  } else if (size === 540) {
    const dim = [...Array(8)].map((_, i) => Number(b.readBigInt64LE(16 + 8 * i)));
    const pixdim = [...Array(8)].map((_, i) => b.readDoubleLE(104 + 8 * i));
    const srow = [...Array(12)].map((_, i) => b.readDoubleLE(400 + 8 * i));
    h = {
      version: 2,
      dim,
      datatype: b.readInt16LE(12),
      pixdim,
      voxOffset: Number(b.readBigInt64LE(168)),
      qformCode: b.readInt32LE(344),
      sformCode: b.readInt32LE(348),
      srow,
      quatern: [b.readDoubleLE(352), b.readDoubleLE(360), b.readDoubleLE(368)],
      qoffset: [b.readDoubleLE(376), b.readDoubleLE(384), b.readDoubleLE(392)],
      intentCode: b.readInt32LE(504),
    };
  } else {
    throw new Error(`not a little-endian NIfTI file (sizeof_hdr ${size})`);
  }
  h.dims = h.dim.slice(1, 1 + h.dim[0]);
  h.affine = affineOf(h);
  h.voxels = () => {
    const n = h.dims.slice(0, 3).reduce((a, c) => a * c, 1);
    const off = h.voxOffset;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      switch (h.datatype) {
        case 2: out[i] = b.readUInt8(off + i); break;
        case 4: out[i] = b.readInt16LE(off + 2 * i); break;
        case 512: out[i] = b.readUInt16LE(off + 2 * i); break;
        default: throw new Error(`datatype ${h.datatype} not handled by the test reader`);
      }
    }
    return out;
  };
  return h;
}

// The 3x4 voxel-to-world matrix: sform if set, else qform (NIfTI rules), else pixdim scaling.
function affineOf(h) {
  if (h.sformCode > 0) return h.srow.slice();
  const [sx, sy, sz] = [h.pixdim[1], h.pixdim[2], h.pixdim[3]];
  if (h.qformCode > 0) {
    const [b, c, d] = h.quatern;
    const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
    const qfac = h.pixdim[0] < 0 ? -1 : 1;
    const R = [
      [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
      [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
      [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    const s = [sx, sy, sz * qfac];
    return [0, 1, 2].flatMap((r) => [R[r][0] * s[0], R[r][1] * s[1], R[r][2] * s[2], h.qoffset[r]]);
  }
  return [sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, sz, 0];
}
