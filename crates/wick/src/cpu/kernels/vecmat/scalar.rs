//! The portable twin: each output adds the four products in order, one rounding each.

pub(crate) fn add_rows4(coef: [f32; 4], rows: [&[f32]; 4], c: &mut [f32]) {
    for (j, o) in c.iter_mut().enumerate() {
        let mut s = *o;
        for r in 0..4 {
            s = coef[r].mul_add(rows[r][j], s);
        }
        *o = s;
    }
}
