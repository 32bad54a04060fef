// node wasm_mem.js : runs each wasm probe on a few case files in a fresh instance and
// reports the result and the wasm linear memory size afterwards (memory never shrinks).
const fs = require('fs');
const mods = { core: 'sizes/core.wasm', nifti: 'sizes/nifti_handaffine.wasm', 'nifti+nalgebra': 'sizes/nifti_nalgebra.wasm' };
const cases = [1, 15, 46, 48, 50, 51];
const names = {1: 'valid 2x3x4 .nii.gz', 15: '512^3 f32 declared, 118 B gz', 46: 'ext esize 2^31-1 (392 B)', 48: 'VALID vox_offset 368', 50: 'VALID scl_slope NaN', 51: 'VALID 256^3 int16 .nii.gz (6 MB)'};
for (const c of cases) {
  const bytes = fs.readFileSync(`cases/${String(c).padStart(2, '0')}.bin`);
  for (const [name, path] of Object.entries(mods)) {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(path)), {});
    const { memory, alloc, decode } = inst.exports;
    const p = alloc(bytes.length);
    new Uint8Array(memory.buffer, p, bytes.length).set(bytes);
    const lp = alloc(4);
    let res;
    try {
      const out = decode(p, bytes.length, lp);
      if (out === 0) res = 'error (null)';
      else {
        const n = new Uint32Array(memory.buffer, lp, 1)[0];
        const f = new Float32Array(memory.buffer, out, n);
        res = `ok n=${n - 16} aff0=[${Array.from(f.slice(0, 4))}] v=[${Array.from(f.slice(16, 20))}]`;
      }
    } catch (e) { res = 'trap: ' + e.message; }
    console.log(`case ${c} ${names[c]} | ${name} | ${res} | memory ${(memory.buffer.byteLength / 1048576).toFixed(1)} MiB`);
  }
}
