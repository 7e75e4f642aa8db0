//! Matrix products, convolutions, pooling, indexing ops and sorting.

use super::Tensor;
use crate::backprop::{BackpropOp, ConvArgs, Op};
use crate::cpu::{MatmulDims, ParamsConv1D, ParamsConv2D, ParamsConvTranspose1D, ParamsConvTranspose2D};
use crate::shape::{Dim, D};
use crate::{DType, Error, Result, Shape};

impl Tensor {
    /// Matrix product. Rank-2 and higher operands multiply their last two dims and broadcast
    /// the dims before (NumPy's `matmul`); a rank-1 operand is a vector, as in PyTorch.
    ///
    /// ```
    /// use wick::{DType, Device, Tensor};
    /// let dev = Device::Cpu;
    /// let a = Tensor::ones((4, 2, 3), DType::F32, &dev)?;
    /// let b = Tensor::ones((3, 5), DType::F32, &dev)?;
    /// assert_eq!(a.matmul(&b)?.dims(), &[4, 2, 5]);
    /// let e = Tensor::ones((2, 3), DType::F32, &dev)?.matmul(&Tensor::ones((4, 5), DType::F32, &dev)?);
    /// assert_eq!(e.unwrap_err().to_string(),
    ///     "matmul: shapes [2, 3] and [4, 5] are not compatible (inner dims 3 != 4)");
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        const OP: &str = "matmul";
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::shape_mismatch(OP, self.shape(), rhs.shape(), "operands need rank >= 1"));
        }
        if self.rank() == 1 {
            let k = self.dims()[0];
            let rk = if rhs.rank() >= 2 { rhs.dims()[rhs.rank() - 2] } else { rhs.dims()[0] };
            if rk != k {
                return Err(inner_mismatch(self.shape(), rhs.shape(), k, rk));
            }
            let out = self.unsqueeze(0)?.matmul(rhs)?;
            // The inserted row is the second-to-last dim, or the only one left for a vector rhs
            // (a dot product, which gives a scalar as in PyTorch).
            return if rhs.rank() == 1 { out.squeeze(0) } else { out.squeeze(D::Minus2) };
        }
        if rhs.rank() == 1 {
            let k = self.dims()[self.rank() - 1];
            if rhs.dims()[0] != k {
                return Err(inner_mismatch(self.shape(), rhs.shape(), k, rhs.dims()[0]));
            }
            return self.matmul(&rhs.unsqueeze(1)?)?.squeeze(D::Minus1);
        }
        if self.dtype() != rhs.dtype() {
            return Err(Error::DTypeMismatch { op: OP, lhs: self.dtype(), rhs: rhs.dtype() });
        }
        self.device().same_as(rhs.device(), OP)?;
        let (lb, m, k) = self.shape().batch_and_matrix(OP)?;
        let (rb, k2, n) = rhs.shape().batch_and_matrix(OP)?;
        if k != k2 {
            return Err(inner_mismatch(self.shape(), rhs.shape(), k, k2));
        }
        let batch =
            Shape::from(lb.to_vec()).broadcast_shape_binary_op(&Shape::from(rb.to_vec()), OP).map_err(
                |_| Error::shape_mismatch(OP, self.shape(), rhs.shape(), "batch dims do not broadcast"),
            )?;
        let mut ld = batch.dims().to_vec();
        ld.extend_from_slice(&[m, k]);
        let mut rd = batch.dims().to_vec();
        rd.extend_from_slice(&[k, n]);
        let mut od = batch.dims().to_vec();
        od.extend_from_slice(&[m, n]);
        Shape::from(od.clone()).checked_elem_count(OP)?;
        let ll = self.layout().broadcast_as(ld)?;
        let rl = rhs.layout().broadcast_as(rd)?;
        let s = self.storage().matmul(&rhs.storage(), MatmulDims { m, n, k }, &ll, &rl)?;
        let op = BackpropOp::new2(self, rhs, Op::Matmul);
        Ok(Tensor::from_storage_contiguous_op(s, od, op))
    }

    fn check_conv(&self, kernel: &Tensor, op: &'static str, rank: usize) -> Result<()> {
        if self.rank() != rank || kernel.rank() != rank {
            return Err(Error::shape_mismatch(
                op,
                self.shape(),
                kernel.shape(),
                format!("input and kernel must both have rank {rank}"),
            ));
        }
        if self.dtype() != kernel.dtype() {
            return Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: kernel.dtype() });
        }
        self.device().same_as(kernel.device(), op)
    }

    /// 1d convolution (cross-correlation, as in PyTorch) of `[b, c_in, l]` with a kernel
    /// `[c_out, c_in / groups, k]`.
    pub fn conv1d(
        &self,
        kernel: &Tensor,
        padding: usize,
        stride: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        const OP: &str = "conv1d";
        self.check_conv(kernel, OP, 3)?;
        let (b, c_in, l_in) = self.dims3()?;
        let (c_out, cig, k) = kernel.dims3()?;
        check_groups(OP, self.shape(), kernel.shape(), c_in, c_out, cig, groups, stride, dilation)?;
        let p = ParamsConv1D { b, c_in, l_in, c_out, k, padding, stride, dilation, groups };
        let l_out = p.l_out().ok_or_else(|| too_big(OP, self.shape(), kernel.shape(), padding, dilation))?;
        let s = self.storage().conv1d(self.layout(), &kernel.storage(), kernel.layout(), &p)?;
        let conv = ConvArgs { padding, output_padding: 0, stride, dilation, groups };
        let op = BackpropOp::new2(self, kernel, |x, k| Op::Conv1d(x, k, conv));
        Ok(Tensor::from_storage_contiguous_op(s, (b, c_out, l_out), op))
    }

    /// 2d convolution of `[b, c_in, h, w]` with a kernel `[c_out, c_in / groups, kh, kw]`.
    ///
    /// ```
    /// use wick::{DType, Device, Tensor};
    /// let x = Tensor::ones((1, 3, 8, 8), DType::F32, &Device::Cpu)?;
    /// let k = Tensor::ones((4, 3, 3, 3), DType::F32, &Device::Cpu)?;
    /// let y = x.conv2d(&k, 1, 1, 1, 1)?;
    /// assert_eq!(y.dims(), &[1, 4, 8, 8]);
    /// assert_eq!(y.to_vec3::<f32>().is_err(), true); // rank 4
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn conv2d(
        &self,
        kernel: &Tensor,
        padding: usize,
        stride: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        const OP: &str = "conv2d";
        self.check_conv(kernel, OP, 4)?;
        let (b, c_in, h, w) = self.dims4()?;
        let (c_out, cig, kh, kw) = kernel.dims4()?;
        check_groups(OP, self.shape(), kernel.shape(), c_in, c_out, cig, groups, stride, dilation)?;
        let p = ParamsConv2D { b, c_in, h, w, c_out, kh, kw, padding, stride, dilation, groups };
        let (oh, ow) =
            p.out_hw().ok_or_else(|| too_big(OP, self.shape(), kernel.shape(), padding, dilation))?;
        let s = self.storage().conv2d(self.layout(), &kernel.storage(), kernel.layout(), &p)?;
        let conv = ConvArgs { padding, output_padding: 0, stride, dilation, groups };
        let op = BackpropOp::new2(self, kernel, |x, k| Op::Conv2d(x, k, conv));
        Ok(Tensor::from_storage_contiguous_op(s, (b, c_out, oh, ow), op))
    }

    /// Transposed 1d convolution of `[b, c_in, l]` with a kernel `[c_in, c_out / groups, k]`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose1d(
        &self,
        kernel: &Tensor,
        padding: usize,
        output_padding: usize,
        stride: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        const OP: &str = "conv_transpose1d";
        self.check_conv(kernel, OP, 3)?;
        let (b, c_in, l_in) = self.dims3()?;
        let (kc_in, cog, k) = kernel.dims3()?;
        check_transpose(
            OP,
            self.shape(),
            kernel.shape(),
            c_in,
            kc_in,
            groups,
            stride,
            dilation,
            output_padding,
        )?;
        let c_out = cog * groups;
        let p = ParamsConvTranspose1D {
            b,
            c_in,
            l_in,
            c_out,
            k,
            padding,
            output_padding,
            stride,
            dilation,
            groups,
        };
        let l_out = p.l_out().ok_or_else(|| too_big(OP, self.shape(), kernel.shape(), padding, dilation))?;
        let s = self.storage().conv_transpose1d(self.layout(), &kernel.storage(), kernel.layout(), &p)?;
        let conv = ConvArgs { padding, output_padding, stride, dilation, groups };
        let op = BackpropOp::new2(self, kernel, |x, k| Op::ConvTranspose1d(x, k, conv));
        Ok(Tensor::from_storage_contiguous_op(s, (b, c_out, l_out), op))
    }

    /// Transposed 2d convolution of `[b, c_in, h, w]` with a kernel `[c_in, c_out / groups, kh, kw]`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        &self,
        kernel: &Tensor,
        padding: usize,
        output_padding: usize,
        stride: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        const OP: &str = "conv_transpose2d";
        self.check_conv(kernel, OP, 4)?;
        let (b, c_in, h, w) = self.dims4()?;
        let (kc_in, cog, kh, kw) = kernel.dims4()?;
        check_transpose(
            OP,
            self.shape(),
            kernel.shape(),
            c_in,
            kc_in,
            groups,
            stride,
            dilation,
            output_padding,
        )?;
        let c_out = cog * groups;
        let p = ParamsConvTranspose2D {
            b,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            padding,
            output_padding,
            stride,
            dilation,
            groups,
        };
        let (oh, ow) =
            p.out_hw().ok_or_else(|| too_big(OP, self.shape(), kernel.shape(), padding, dilation))?;
        let s = self.storage().conv_transpose2d(self.layout(), &kernel.storage(), kernel.layout(), &p)?;
        let conv = ConvArgs { padding, output_padding, stride, dilation, groups };
        let op = BackpropOp::new2(self, kernel, |x, k| Op::ConvTranspose2d(x, k, conv));
        Ok(Tensor::from_storage_contiguous_op(s, (b, c_out, oh, ow), op))
    }

    fn pool_dims(
        &self,
        op: &'static str,
        kernel: (usize, usize),
        stride: (usize, usize),
    ) -> Result<(usize, usize, usize, usize)> {
        let (b, c, h, w) =
            self.dims4().map_err(|_| Error::RankMismatch { op, expected: 4, shape: self.shape().clone() })?;
        if kernel.0 == 0 || kernel.1 == 0 || stride.0 == 0 || stride.1 == 0 {
            return Err(Error::invalid(
                op,
                format!("kernel {kernel:?} and stride {stride:?} must be positive"),
            ));
        }
        if kernel.0 > h || kernel.1 > w {
            return Err(Error::invalid(
                op,
                format!("kernel {kernel:?} is larger than the input {:?}", self.shape()),
            ));
        }
        Ok((b, c, (h - kernel.0) / stride.0 + 1, (w - kernel.1) / stride.1 + 1))
    }

    /// Max pooling over `[b, c, h, w]` with a square window, stride = window.
    pub fn max_pool2d(&self, kernel: usize) -> Result<Tensor> {
        self.max_pool2d_with_stride((kernel, kernel), (kernel, kernel))
    }
    /// Max pooling with explicit window and stride (no padding).
    pub fn max_pool2d_with_stride(&self, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
        let (b, c, oh, ow) = self.pool_dims("max_pool2d", kernel, stride)?;
        let s = self.storage().max_pool2d(self.layout(), kernel, stride)?;
        let op = BackpropOp::new1(self, |a| Op::MaxPool2d(a, kernel, stride));
        Ok(Tensor::from_storage_contiguous_op(s, (b, c, oh, ow), op))
    }
    /// Average pooling over `[b, c, h, w]` with a square window, stride = window.
    pub fn avg_pool2d(&self, kernel: usize) -> Result<Tensor> {
        self.avg_pool2d_with_stride((kernel, kernel), (kernel, kernel))
    }
    /// Average pooling with explicit window and stride (no padding).
    pub fn avg_pool2d_with_stride(&self, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
        let (b, c, oh, ow) = self.pool_dims("avg_pool2d", kernel, stride)?;
        let s = self.storage().avg_pool2d(self.layout(), kernel, stride)?;
        let op = BackpropOp::new1(self, |a| Op::AvgPool2d(a, kernel, stride));
        Ok(Tensor::from_storage_contiguous_op(s, (b, c, oh, ow), op))
    }
    /// Nearest-neighbour resize of `[b, c, h, w]` to `[b, c, out_h, out_w]`.
    pub fn upsample_nearest2d(&self, out_h: usize, out_w: usize) -> Result<Tensor> {
        let (b, c, _, _) = self.dims4().map_err(|_| Error::RankMismatch {
            op: "upsample_nearest2d",
            expected: 4,
            shape: self.shape().clone(),
        })?;
        Shape::from((b, c, out_h, out_w)).checked_elem_count("upsample_nearest2d")?;
        let s = self.storage().upsample_nearest2d(self.layout(), out_h, out_w)?;
        let op = BackpropOp::new1(self, Op::UpsampleNearest2d);
        Ok(Tensor::from_storage_contiguous_op(s, (b, c, out_h, out_w), op))
    }

    fn check_ids(&self, ids: &Tensor, op: &'static str) -> Result<()> {
        if !matches!(ids.dtype(), DType::U8 | DType::U32 | DType::I64) {
            return Err(Error::unsupported_dtype(op, ids.dtype(), "indices must be u8, u32 or i64"));
        }
        self.device().same_as(ids.device(), op)
    }

    /// Picks entries of `dim` by the rank-1 `ids`.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let dev = Device::Cpu;
    /// let t = Tensor::new(&[[1f32, 2.], [3., 4.], [5., 6.]], &dev)?;
    /// let ids = Tensor::new(&[2u32, 0], &dev)?;
    /// assert_eq!(t.index_select(&ids, 0)?.to_vec2::<f32>()?, vec![vec![5., 6.], vec![1., 2.]]);
    /// assert!(t.index_select(&Tensor::new(&[3u32], &dev)?, 0).is_err());
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn index_select<D1: Dim>(&self, ids: &Tensor, dim: D1) -> Result<Tensor> {
        const OP: &str = "index_select";
        let d = dim.to_index(self.shape(), OP)?;
        self.check_ids(ids, OP)?;
        if ids.rank() != 1 {
            return Err(Error::RankMismatch { op: OP, expected: 1, shape: ids.shape().clone() });
        }
        let mut dims = self.dims().to_vec();
        dims[d] = ids.dims()[0];
        let s = self.storage().index_select(&ids.storage(), self.layout(), ids.layout(), d)?;
        let op = BackpropOp::new1(self, |a| Op::IndexSelect(a, ids.detach(), d));
        Ok(Tensor::from_storage_contiguous_op(s, dims, op))
    }

    /// `out[i][j] = self[i][ids[i][j]]` along `dim` (like `torch.gather`); `ids` has the same
    /// rank, and no dim larger than `self`'s except `dim`.
    pub fn gather<D1: Dim>(&self, ids: &Tensor, dim: D1) -> Result<Tensor> {
        const OP: &str = "gather";
        let d = dim.to_index(self.shape(), OP)?;
        self.check_ids(ids, OP)?;
        check_index_shape(OP, self.shape(), ids.shape(), d)?;
        let s = self.storage().gather(self.layout(), &ids.storage(), ids.layout(), d)?;
        let op = BackpropOp::new1(self, |a| Op::Gather(a, ids.detach(), d));
        Ok(Tensor::from_storage_contiguous_op(s, ids.shape(), op))
    }

    /// A copy of `self` with `src[i][j]` added at `[i][ids[i][j]]` along `dim`
    /// (like `torch.scatter_add`).
    pub fn scatter_add<D1: Dim>(&self, ids: &Tensor, src: &Tensor, dim: D1) -> Result<Tensor> {
        const OP: &str = "scatter_add";
        let d = dim.to_index(self.shape(), OP)?;
        self.check_ids(ids, OP)?;
        check_index_shape(OP, self.shape(), ids.shape(), d)?;
        if src.rank() != ids.rank() || ids.dims().iter().zip(src.dims()).any(|(i, s)| i > s) {
            return Err(Error::shape_mismatch(
                OP,
                ids.shape(),
                src.shape(),
                "indices must not be larger than src",
            ));
        }
        if src.dtype() != self.dtype() {
            return Err(Error::DTypeMismatch { op: OP, lhs: self.dtype(), rhs: src.dtype() });
        }
        let s = self.storage().scatter_add(
            self.layout(),
            &ids.storage(),
            ids.layout(),
            &src.storage(),
            src.layout(),
            d,
        )?;
        let op = BackpropOp::new2(self, src, |a, s| Op::ScatterAdd(a, ids.detach(), s, d));
        Ok(Tensor::from_storage_contiguous_op(s, self.shape(), op))
    }

    /// A copy of `self` with slice `j` of `src` added to slice `ids[j]` along `dim`
    /// (like `torch.index_add`).
    pub fn index_add<D1: Dim>(&self, ids: &Tensor, src: &Tensor, dim: D1) -> Result<Tensor> {
        const OP: &str = "index_add";
        let d = dim.to_index(self.shape(), OP)?;
        self.check_ids(ids, OP)?;
        if ids.rank() != 1 {
            return Err(Error::RankMismatch { op: OP, expected: 1, shape: ids.shape().clone() });
        }
        let mut expect = self.dims().to_vec();
        expect[d] = ids.dims()[0];
        if src.dims() != expect.as_slice() {
            return Err(Error::shape_mismatch(
                OP,
                self.shape(),
                src.shape(),
                format!("src must have shape {expect:?}"),
            ));
        }
        if src.dtype() != self.dtype() {
            return Err(Error::DTypeMismatch { op: OP, lhs: self.dtype(), rhs: src.dtype() });
        }
        let s = self.storage().index_add(
            self.layout(),
            &ids.storage(),
            ids.layout(),
            &src.storage(),
            src.layout(),
            d,
        )?;
        let op = BackpropOp::new2(self, src, |a, s| Op::IndexAdd(a, ids.detach(), s, d));
        Ok(Tensor::from_storage_contiguous_op(s, self.shape(), op))
    }

    /// Rows of this `[vocab, hidden]` table for integer `ids` of any shape: `[.., hidden]`.
    pub fn embedding(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, hidden) = self.dims2().map_err(|_| Error::RankMismatch {
            op: "embedding",
            expected: 2,
            shape: self.shape().clone(),
        })?;
        let flat = self.index_select(&ids.flatten_all()?, 0)?;
        let mut dims = ids.dims().to_vec();
        dims.push(hidden);
        flat.reshape(dims)
    }

    fn triangle(&self, diagonal: i64, lower: bool, op: &'static str) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::RankMismatch { op, expected: 2, shape: self.shape().clone() });
        }
        let (m, n) = (self.dims()[self.rank() - 2], self.dims()[self.rank() - 1]);
        let mut mask = Vec::with_capacity(m * n);
        for i in 0..m as i64 {
            for j in 0..n as i64 {
                mask.push(if lower { j - i <= diagonal } else { j - i >= diagonal } as u8);
            }
        }
        let mask = Tensor::from_vec(mask, (m, n), self.device())?;
        mask.where_cond(self, &Tensor::zeros((), self.dtype(), self.device())?)
    }

    /// Keeps the lower triangle of the last two dims (`j - i <= diagonal`), zeroes the rest.
    pub fn tril(&self, diagonal: i64) -> Result<Tensor> {
        self.triangle(diagonal, true, "tril")
    }
    /// Keeps the upper triangle of the last two dims (`j - i >= diagonal`), zeroes the rest.
    pub fn triu(&self, diagonal: i64) -> Result<Tensor> {
        self.triangle(diagonal, false, "triu")
    }

    /// Indices (U32) that sort `dim`; stable; NaN sorts as the largest value.
    pub fn argsort<D1: Dim>(&self, dim: D1, descending: bool) -> Result<Tensor> {
        let d = dim.to_index(self.shape(), "argsort")?;
        let last = self.rank() - 1;
        let moved = self.transpose(d, last)?;
        let s = moved.storage().arg_sort_last_dim(moved.layout(), !descending)?;
        Tensor::from_storage_contiguous(s, moved.shape()).transpose(d, last)?.contiguous()
    }

    /// Sorted values and their indices (U32) along `dim`.
    ///
    /// ```
    /// use wick::{Device, Tensor};
    /// let t = Tensor::new(&[3f32, 1., 2.], &Device::Cpu)?;
    /// let (v, i) = t.sort(0, false)?;
    /// assert_eq!(v.to_vec1::<f32>()?, vec![1., 2., 3.]);
    /// assert_eq!(i.to_vec1::<u32>()?, vec![1, 2, 0]);
    /// # Ok::<(), wick::Error>(())
    /// ```
    pub fn sort<D1: Dim>(&self, dim: D1, descending: bool) -> Result<(Tensor, Tensor)> {
        let d = dim.to_index(self.shape(), "sort")?;
        let idx = self.argsort(d, descending)?;
        Ok((self.gather(&idx, d)?, idx))
    }

    /// The `k` largest values along `dim` (descending) and their indices (U32).
    pub fn topk<D1: Dim>(&self, k: usize, dim: D1) -> Result<(Tensor, Tensor)> {
        let d = dim.to_index(self.shape(), "topk")?;
        if k > self.dims()[d] {
            return Err(Error::invalid(
                "topk",
                format!(
                    "k = {k} is larger than dim {d} of size {} (shape {:?})",
                    self.dims()[d],
                    self.shape()
                ),
            ));
        }
        let idx = self.argsort(d, true)?.narrow(d, 0, k)?.contiguous()?;
        Ok((self.gather(&idx, d)?, idx))
    }
}

fn inner_mismatch(l: &Shape, r: &Shape, k1: usize, k2: usize) -> Error {
    Error::shape_mismatch("matmul", l, r, format!("inner dims {k1} != {k2}"))
}

fn too_big(op: &'static str, x: &Shape, k: &Shape, padding: usize, dilation: usize) -> Error {
    Error::shape_mismatch(
        op,
        x,
        k,
        format!("the kernel (dilation {dilation}) does not fit the input padded by {padding}"),
    )
}

#[allow(clippy::too_many_arguments)]
fn check_groups(
    op: &'static str,
    x: &Shape,
    k: &Shape,
    c_in: usize,
    c_out: usize,
    cig: usize,
    groups: usize,
    stride: usize,
    dilation: usize,
) -> Result<()> {
    if groups == 0 || stride == 0 || dilation == 0 {
        return Err(Error::invalid(
            op,
            format!("groups {groups}, stride {stride} and dilation {dilation} must be positive"),
        ));
    }
    if !c_in.is_multiple_of(groups) || !c_out.is_multiple_of(groups) || cig * groups != c_in {
        return Err(Error::shape_mismatch(
            op,
            x,
            k,
            format!("{c_in} input channels with {groups} groups need a kernel with {} input channels per group and output channels divisible by {groups}", c_in / groups.max(1)),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check_transpose(
    op: &'static str,
    x: &Shape,
    k: &Shape,
    c_in: usize,
    kc_in: usize,
    groups: usize,
    stride: usize,
    dilation: usize,
    output_padding: usize,
) -> Result<()> {
    if groups == 0 || stride == 0 || dilation == 0 {
        return Err(Error::invalid(
            op,
            format!("groups {groups}, stride {stride} and dilation {dilation} must be positive"),
        ));
    }
    if c_in != kc_in || !c_in.is_multiple_of(groups) {
        return Err(Error::shape_mismatch(
            op,
            x,
            k,
            format!(
                "input channels {c_in} must equal kernel dim 0 ({kc_in}) and be divisible by groups {groups}"
            ),
        ));
    }
    if output_padding >= stride.max(dilation) {
        return Err(Error::invalid(
            op,
            format!(
                "output_padding {output_padding} must be smaller than stride {stride} or dilation {dilation}"
            ),
        ));
    }
    Ok(())
}

fn check_index_shape(op: &'static str, src: &Shape, ids: &Shape, dim: usize) -> Result<()> {
    if ids.rank() != src.rank() {
        return Err(Error::shape_mismatch(op, src, ids, "indices must have the same rank"));
    }
    for (i, (&s, &n)) in src.dims().iter().zip(ids.dims()).enumerate() {
        if i != dim && n > s {
            return Err(Error::shape_mismatch(
                op,
                src,
                ids,
                format!("indices dim {i} ({n}) is larger than the tensor's ({s})"),
            ));
        }
    }
    Ok(())
}
