//! AVX2 and AVX-512 variants: one vector of outputs per step, masked loads and stores for the
//! tail; the four multiply-adds run in the twin's order.

macro_rules! vecmat {
    ($feat:literal) => {
        #[target_feature(enable = $feat)]
        pub(crate) fn add_rows4(coef: [f32; 4], rows: [&[f32]; 4], c: &mut [f32]) {
            let k = coef.map(|x| splat(x));
            let n = c.len();
            let (c1, ct) = c.as_chunks_mut::<LANES>();
            let rows = rows.map(|r| r[..n].as_chunks::<LANES>());
            for (j, o) in c1.iter_mut().enumerate() {
                let mut s = load(o);
                for r in 0..4 {
                    s = fmadd(k[r], load(&rows[r].0[j]), s);
                }
                store(o, s);
            }
            if !ct.is_empty() {
                let mut s = load_tail(ct, 0.0);
                for r in 0..4 {
                    s = fmadd(k[r], load_tail(rows[r].1, 0.0), s);
                }
                store_tail(ct, s);
            }
        }
    };
}

crate::cpu::kernels::x86::stamp_isas!(vecmat);
